import CloudcCLI

await CloudcMain.run()
