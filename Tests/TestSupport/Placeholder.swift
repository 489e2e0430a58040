import CloudcCore
