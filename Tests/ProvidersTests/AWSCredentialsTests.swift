import CloudcCore
import Foundation
@testable import Providers
import Testing

/// The credential chain (cloud settings → environment → shared files) and region lookup,
/// each against a temporary home directory and an explicit environment.
@Suite struct AWSCredentialsTests {
    static let credentialsFile = """
        # written by aws configure
        [default]
        aws_access_key_id = AKIDDEFAULT
        aws_secret_access_key = SECRET-DEFAULT

        ; a second profile, with odd spacing and a token
        [ research ]
        aws_access_key_id=AKIDRESEARCH
        AWS_SECRET_ACCESS_KEY =   SECRET-RESEARCH
        aws_session_token = TOKEN-RESEARCH
        """

    /// Runs `body` with a fresh home whose `~/.aws` holds these files (nil: no file).
    func withHome<T>(credentials: String? = nil, config: String? = nil,
                     _ body: (TemporaryHome) throws -> T) throws -> T {
        let home = try TemporaryHome()
        defer { home.remove() }
        if let credentials { try home.write(".aws/credentials", credentials) }
        if let config { try home.write(".aws/config", config) }
        return try body(home)
    }

    func resolver(_ home: TemporaryHome, _ environment: [String: String] = [:]) -> AWSCredentialResolver {
        AWSCredentialResolver(environment: environment, homeDirectory: home.path)
    }

    static let environmentKeys = ["AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "SECRET-ENV"]

    // MARK: - The chain, in order

    @Test func keysInTheCloudSettingsComeFirst() throws {
        try withHome(credentials: Self.credentialsFile) { home in
            let settings = EC2Settings(profile: "research", accessKeyID: "AKIDCONFIG",
                                       secretAccessKey: "SECRET-CONFIG", sessionToken: "TOKEN-CONFIG")
            let found = try resolver(home, Self.environmentKeys).credentials(for: settings)
            #expect(found == AWSCredentials(accessKeyID: "AKIDCONFIG", secretAccessKey: Secret("SECRET-CONFIG"),
                                            sessionToken: Secret("TOKEN-CONFIG"), source: "the cloud's settings"))
        }
    }

    @Test func environmentComesNext() throws {
        try withHome(credentials: Self.credentialsFile) { home in
            var environment = Self.environmentKeys
            environment["AWS_SESSION_TOKEN"] = "TOKEN-ENV"
            let found = try resolver(home, environment).credentials(for: EC2Settings())
            #expect(found == AWSCredentials(accessKeyID: "AKIDENV", secretAccessKey: Secret("SECRET-ENV"),
                                            sessionToken: Secret("TOKEN-ENV"), source: "environment"))
        }
    }

    @Test("empty environment variables count as unset")
    func emptyEnvironment() throws {
        try withHome(credentials: Self.credentialsFile) { home in
            let environment = ["AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_PROFILE": ""]
            let found = try resolver(home, environment).credentials(for: EC2Settings())
            #expect(found.accessKeyID == "AKIDDEFAULT")
        }
    }

    @Test func defaultProfileOfTheCredentialsFileComesLast() throws {
        try withHome(credentials: Self.credentialsFile) { home in
            let found = try resolver(home).credentials(for: EC2Settings())
            #expect(found == AWSCredentials(accessKeyID: "AKIDDEFAULT", secretAccessKey: Secret("SECRET-DEFAULT"),
                                            source: "profile default in ~/.aws/credentials"))
        }
    }

    @Test func awsProfileChoosesTheProfile() throws {
        try withHome(credentials: Self.credentialsFile) { home in
            let found = try resolver(home, ["AWS_PROFILE": "research"]).credentials(for: EC2Settings())
            #expect(found == AWSCredentials(accessKeyID: "AKIDRESEARCH", secretAccessKey: Secret("SECRET-RESEARCH"),
                                            sessionToken: Secret("TOKEN-RESEARCH"),
                                            source: "profile research in ~/.aws/credentials"))
        }
    }

    @Test func profileInTheSettingsWinsOverAWSProfile() throws {
        try withHome(credentials: Self.credentialsFile) { home in
            let found = try resolver(home, ["AWS_PROFILE": "default"]).credentials(for: EC2Settings(profile: "research"))
            #expect(found.accessKeyID == "AKIDRESEARCH")
        }
    }

    @Test("a profile named in the settings wins over exported keys, as with `aws --profile`")
    func profileInTheSettingsWinsOverEnvironmentKeys() throws {
        try withHome(credentials: Self.credentialsFile) { home in
            let found = try resolver(home, Self.environmentKeys).credentials(for: EC2Settings(profile: "research"))
            #expect(found.accessKeyID == "AKIDRESEARCH")
        }
    }

    @Test("exported keys win over AWS_PROFILE, as with the AWS CLI")
    func environmentKeysWinOverAWSProfile() throws {
        try withHome(credentials: Self.credentialsFile) { home in
            var environment = Self.environmentKeys
            environment["AWS_PROFILE"] = "research"
            let found = try resolver(home, environment).credentials(for: EC2Settings())
            #expect(found.accessKeyID == "AKIDENV")
        }
    }

    // MARK: - The config file

    @Test("the config file's profiles are [profile NAME]; a bare [NAME] is not one")
    func configFileProfiles() throws {
        let config = """
            [default]
            region = eu-west-1

            [research]
            aws_access_key_id = AKIDWRONG
            aws_secret_access_key = SECRET-WRONG

            [profile research]
            aws_access_key_id = AKIDCONFIGFILE
            aws_secret_access_key = SECRET-CONFIGFILE
            """
        try withHome(config: config) { home in
            let found = try resolver(home).credentials(for: EC2Settings(profile: "research"))
            #expect(found == AWSCredentials(accessKeyID: "AKIDCONFIGFILE", secretAccessKey: Secret("SECRET-CONFIGFILE"),
                                            source: "profile research in ~/.aws/config"))
        }
    }

    @Test("[default] of the config file holds the default profile")
    func configFileDefault() throws {
        let config = """
            [default]
            aws_access_key_id = AKIDCONFIGDEFAULT
            aws_secret_access_key = SECRET-CONFIGDEFAULT
            """
        try withHome(config: config) { home in
            let found = try resolver(home).credentials(for: EC2Settings())
            #expect(found.accessKeyID == "AKIDCONFIGDEFAULT")
        }
    }

    @Test func credentialsFileWinsOverConfigFile() throws {
        let config = """
            [profile research]
            aws_access_key_id = AKIDCONFIGFILE
            aws_secret_access_key = SECRET-CONFIGFILE
            """
        try withHome(credentials: Self.credentialsFile, config: config) { home in
            let found = try resolver(home).credentials(for: EC2Settings(profile: "research"))
            #expect(found.accessKeyID == "AKIDRESEARCH")
        }
    }

    @Test("AWS_SHARED_CREDENTIALS_FILE and AWS_CONFIG_FILE move the files, ~ included")
    func fileLocationsFromEnvironment() throws {
        try withHome { home in
            try home.write("elsewhere/creds", "[other]\naws_access_key_id = AKIDMOVED\naws_secret_access_key = S\n")
            try home.write("elsewhere/conf", "[profile other]\nregion = ap-south-1\n")
            let environment = ["AWS_SHARED_CREDENTIALS_FILE": "~/elsewhere/creds",
                               "AWS_CONFIG_FILE": home.path + "/elsewhere/conf", "AWS_PROFILE": "other"]
            let resolver = resolver(home, environment)
            #expect(resolver.credentialsFile == home.path + "/elsewhere/creds")
            let found = try resolver.credentials(for: EC2Settings())
            #expect(found.accessKeyID == "AKIDMOVED")
            #expect(found.source == "profile other in ~/elsewhere/creds")
            #expect(try resolver.region(for: EC2Settings()) == "ap-south-1")
        }
    }

    // MARK: - Errors

    @Test(arguments: [
        (EC2Settings(accessKeyID: "AKIDCONFIG"), "secret_access_key"),
        (EC2Settings(secretAccessKey: "SECRET-HALF"), "access_key_id"),
        (EC2Settings(sessionToken: "TOKEN-HALF"), "session_token"),
    ])
    func halfAKeyInTheSettingsIsAConfigError(settings: EC2Settings, named: String) throws {
        try withHome(credentials: Self.credentialsFile) { home in
            let error = try #require(throws: CloudcError.self) {
                try resolver(home, Self.environmentKeys).credentials(for: settings)
            }
            #expect(error.code == .config)
            #expect(error.message.contains(named))
            #expect(error.fix != nil)
        }
    }

    @Test(arguments: [
        (["AWS_ACCESS_KEY_ID": "AKIDENV"], "has AWS_ACCESS_KEY_ID but no AWS_SECRET_ACCESS_KEY"),
        (["AWS_SECRET_ACCESS_KEY": "SECRET-ENV"], "has AWS_SECRET_ACCESS_KEY but no AWS_ACCESS_KEY_ID"),
    ])
    func halfAKeyInTheEnvironment(environment: [String: String], expected: String) throws {
        try withHome(credentials: Self.credentialsFile) { home in
            let error = try #require(throws: CloudcError.self) {
                try resolver(home, environment).credentials(for: EC2Settings())
            }
            #expect(error.code == .credentials)
            #expect(error.message.contains(expected))
        }
    }

    @Test("no credentials anywhere: the error names every place looked at, and how to fix it")
    func noCredentials() throws {
        try withHome(config: "[default]\nregion = us-east-1\n") { home in
            let error = try #require(throws: CloudcError.self) {
                try resolver(home).credentials(for: EC2Settings())
            }
            #expect(error.code == .credentials)
            for place in ["the cloud's settings", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                          "~/.aws/credentials: no such file", "~/.aws/config: [default] has no aws_access_key_id"] {
                #expect(error.message.contains(place), "the message should name \(place)")
            }
            let fix = try #require(error.fix)
            #expect(fix.contains("aws configure"))
            #expect(fix.contains("AWS_ACCESS_KEY_ID"))
        }
    }

    @Test(arguments: [
        (EC2Settings(profile: "missing"), [String: String](), "`profile:`"),
        (EC2Settings(), ["AWS_PROFILE": "missing"], "AWS_PROFILE"),
    ])
    func missingProfile(settings: EC2Settings, environment: [String: String], fixMentions: String) throws {
        try withHome(credentials: Self.credentialsFile) { home in
            let error = try #require(throws: CloudcError.self) {
                try resolver(home, environment).credentials(for: settings)
            }
            #expect(error.code == .credentials)
            #expect(error.message.contains("\"missing\""))
            #expect(error.message.contains("~/.aws/credentials (no [missing] section)"))
            #expect(error.message.contains("~/.aws/config (no such file)"))
            #expect(error.fix?.contains(fixMentions) == true)
            #expect(error.fix?.contains("aws configure --profile missing") == true)
        }
    }

    @Test("a profile that assumes a role or uses SSO is named as unsupported, with a way around")
    func profileWithoutStaticKeys() throws {
        let config = """
            [profile admin]
            role_arn = arn:aws:iam::123456789012:role/admin
            source_profile = default
            """
        try withHome(config: config) { home in
            let error = try #require(throws: CloudcError.self) {
                try resolver(home).credentials(for: EC2Settings(profile: "admin"))
            }
            #expect(error.code == .credentials)
            #expect(error.message.contains("role_arn"))
            #expect(error.fix?.contains("aws configure export-credentials --profile admin") == true)
        }
    }

    @Test func profileWithHalfAKey() throws {
        try withHome(credentials: "[default]\naws_secret_access_key = SECRET-HALF\n") { home in
            let error = try #require(throws: CloudcError.self) {
                try resolver(home).credentials(for: EC2Settings())
            }
            #expect(error.code == .credentials)
            #expect(error.message == "AWS profile \"default\" in ~/.aws/credentials has aws_secret_access_key "
                + "but no aws_access_key_id.")
        }
    }

    @Test("a malformed shared file: the error gives file and line, not the line's content")
    func malformedSharedFile() throws {
        try withHome(credentials: "[default]\naws_access_key_id = AKIDX\nSECRET-ON-ITS-OWN-LINE\n") { home in
            let error = try #require(throws: CloudcError.self) {
                try resolver(home).credentials(for: EC2Settings())
            }
            #expect(error.code == .config)
            #expect(error.message.hasPrefix("~/.aws/credentials:3 "))
            #expect(!error.description.contains("SECRET-ON-ITS-OWN-LINE"))
        }
    }

    /// Ways to fail, each with secrets lying around in the settings, environment or files.
    static let failures: [(credentials: String?, config: String?, environment: [String: String],
                           settings: EC2Settings, region: Bool)] = [
        (nil, nil, [:], EC2Settings(secretAccessKey: "SECRET-1"), false),
        (nil, nil, [:], EC2Settings(sessionToken: "SECRET-2"), false),
        (nil, nil, ["AWS_SECRET_ACCESS_KEY": "SECRET-3", "AWS_SESSION_TOKEN": "SECRET-4"], EC2Settings(), false),
        ("[default]\naws_secret_access_key = SECRET-5\n", nil, [:], EC2Settings(), false),
        ("[default]\naws_access_key_id = AKIDX\nSECRET-6\n", nil, [:], EC2Settings(), false),
        ("[default]\naws_access_key_id = AKIDX\n\taws_secret_access_key = SECRET-7\n", nil, [:], EC2Settings(), false),
        (nil, "[profile sso]\nsso_session = corp\naws_session_token = SECRET-8\n", [:], EC2Settings(profile: "sso"), false),
        ("[other]\naws_access_key_id = A\naws_secret_access_key = SECRET-9\n", nil, [:], EC2Settings(profile: "x"), false),
        ("[other]\naws_access_key_id = A\naws_secret_access_key = SECRET-10\n", "[default]\n", [:], EC2Settings(), false),
        ("[default]\naws_access_key_id = A\naws_secret_access_key = SECRET-11\n", nil,
         ["AWS_SECRET_ACCESS_KEY": "SECRET-12"], EC2Settings(secretAccessKey: "SECRET-13"), true),
    ]

    @Test("no error tells a secret", arguments: 0..<failures.count)
    func errorsTellNoSecret(index: Int) throws {
        let failure = Self.failures[index]
        try withHome(credentials: failure.credentials, config: failure.config) { home in
            let resolver = resolver(home, failure.environment)
            let error = try #require(throws: CloudcError.self) {
                if failure.region {
                    _ = try resolver.region(for: failure.settings)
                } else {
                    _ = try resolver.credentials(for: failure.settings)
                }
            }
            for text in [error.description, String(reflecting: error)] {
                #expect(!text.contains("SECRET-"), "leaked in: \(text)")
            }
        }
    }

    @Test("credentials print their key id and source, never the secret or token")
    func credentialsDescription() {
        let credentials = AWSCredentials(accessKeyID: "AKIDX", secretAccessKey: Secret("SECRET-X"),
                                         sessionToken: Secret("TOKEN-X"), source: "environment")
        #expect("\(credentials)" == "access key AKIDX from environment, with a session token")
        for text in [String(describing: credentials), String(reflecting: credentials), dumped(credentials)] {
            #expect(!text.contains("SECRET-X"))
            #expect(!text.contains("TOKEN-X"))
        }
    }

    @Test("the resolver prints no secret from the environment it holds")
    func resolverDescription() {
        let resolver = AWSCredentialResolver(environment: ["AWS_SECRET_ACCESS_KEY": "SECRET-ENV"], homeDirectory: "/h")
        #expect("\(resolver)" == "AWSCredentialResolver(credentialsFile: /h/.aws/credentials, configFile: /h/.aws/config)")
        for text in [String(reflecting: resolver), dumped(resolver)] {
            #expect(!text.contains("SECRET-ENV"))
        }
    }

    // MARK: - Region

    @Test(arguments: [
        (EC2Settings(region: "from-settings"), ["AWS_REGION": "from-region", "AWS_DEFAULT_REGION": "from-default"],
         "from-settings"),
        (EC2Settings(), ["AWS_REGION": "from-region", "AWS_DEFAULT_REGION": "from-default"], "from-region"),
        (EC2Settings(), ["AWS_DEFAULT_REGION": "from-default"], "from-default"),
        (EC2Settings(), [:], "from-config-default"),
        (EC2Settings(profile: "research"), [:], "from-config-research"),
        (EC2Settings(), ["AWS_PROFILE": "research"], "from-config-research"),
    ])
    func region(settings: EC2Settings, environment: [String: String], expected: String) throws {
        let config = """
            [default]
            region = from-config-default
            [profile research]
            region = from-config-research
            s3 =
              max_concurrent_requests = 20
            """
        try withHome(config: config) { home in
            let region = try resolver(home, environment).region(for: settings)
            #expect(region == expected)
        }
    }

    @Test("no region anywhere: a config error that says how to set one")
    func noRegion() throws {
        try withHome(credentials: "[default]\nregion = ignored-here\n") { home in
            let error = try #require(throws: CloudcError.self) {
                try resolver(home).region(for: EC2Settings())
            }
            #expect(error.code == .config)
            #expect(error.message.contains("AWS_REGION"))
            #expect(error.message.contains("~/.aws/config"))
            #expect(error.fix?.contains("region: us-east-1") == true)
            #expect(error.fix?.contains("[default]") == true)
        }
    }

    // MARK: - The INI parser

    @Test func sharedFileSyntax() throws {
        let file = try AWSSharedFile(parsing: """
            # comment\r
              ; indented comment
            [profile a]\r
            Key_One = value # not a comment\r
            key2: colon
            nested =
              inner = 1
              other = 2
            empty =

            [profile a]
            key2 = later wins
            [ spaced   ]
            """, displayPath: "f")
        #expect(file.sections == [
            "profile a": ["key_one": "value # not a comment", "key2": "later wins", "nested": "inner = 1\nother = 2",
                          "empty": ""],
            "spaced": [:],
        ])
        #expect(file.configProfile("a")?["key2"] == "later wins")
        #expect(file.configProfile("spaced") == nil)
    }

    @Test(arguments: [
        ("key = before section\n", 1, "before any [section]"),
        ("[a]\nno delimiter here\n", 2, "neither"),
        ("[a]\n[unclosed\n", 2, "closing ]"),
        ("[a]\n = value\n", 2, "without a key"),
    ])
    func sharedFileErrors(text: String, line: Int, problem: String) throws {
        let error = try #require(throws: CloudcError.self) { try AWSSharedFile(parsing: text, displayPath: "f") }
        #expect(error.code == .config)
        #expect(error.message.hasPrefix("f:\(line) "))
        #expect(error.message.contains(problem))
    }
}
