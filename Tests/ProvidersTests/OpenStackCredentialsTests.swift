import CloudcCore
import Foundation
@testable import Providers
import Testing

/// Where OpenStack credentials come from: clouds.yaml (three places, or OS_CLIENT_CONFIG_FILE)
/// with secure.yaml over it, the OS_* environment, and the cloudc config's own keys on top;
/// each against a temporary home, working directory and system folder.
@Suite struct OpenStackCredentialsTests {
    static let password = "hunter2-pw-7f3a"
    static let secret = "s3cr3t-appcred-91c"

    static let cloudsYAML = """
        clouds:
          research:
            auth:
              auth_url: https://keystone.example.org:5000/v3
              username: alice
              password: \(password)
              project_name: hpc
              user_domain_name: Users
              project_domain_name: Projects
            region_name: RegionTwo
            interface: internal
            identity_api_version: 3
          teaching:
            auth:
              auth_url: https://keystone.teaching.example.org
              username: bob
              password: other-pw
              project_id: 0c4e9b
          appcred:
            auth:
              auth_url: https://keystone.example.org:5000
              application_credential_id: ac-123
              application_credential_secret: \(secret)
            region_name: RegionOne
        """

    /// A home with `work/` (the working directory) and `etc/openstack/` (the system folder).
    struct Layout {
        let home: TemporaryHome
        var work: String { home.path + "/work" }
        var system: String { home.path + "/etc/openstack" }
        var homeConfig: String { home.path + "/.config/openstack" }

        init() throws {
            home = try TemporaryHome()
            try FileManager.default.createDirectory(atPath: home.path + "/work", withIntermediateDirectories: true)
        }

        /// Writes `text` at `path`, an absolute path under the home.
        func write(_ path: String, _ text: String) throws {
            try home.write(String(path.dropFirst(home.path.count + 1)), text)
        }

        /// `path` as messages show it (`~/…`).
        func shown(_ path: String) -> String { resolver().display(path) }

        func resolver(_ environment: [String: String] = [:]) -> OpenStackCredentialResolver {
            OpenStackCredentialResolver(environment: environment, homeDirectory: home.path,
                                        workingDirectory: work, systemDirectory: system)
        }

        func resolve(_ settings: OpenStackSettings, _ environment: [String: String] = [:]) throws -> OpenStackAuth {
            try resolver(environment).resolve(settings, cloud: "uni")
        }

        func error(_ settings: OpenStackSettings, _ environment: [String: String] = [:]) -> CloudcError? {
            #expect(throws: CloudcError.self) { try resolve(settings, environment) }
        }
    }

    func withLayout<T>(_ body: (Layout) throws -> T) throws -> T {
        let layout = try Layout()
        defer { layout.home.remove() }
        return try body(layout)
    }

    static func url(_ text: String) throws -> URL { try #require(URL(string: text)) }

    // MARK: - clouds.yaml

    @Test func aCloudOfCloudsYAMLInTheHomeConfigFolder() throws {
        try withLayout { layout in
            try layout.write(layout.homeConfig + "/clouds.yaml", Self.cloudsYAML)
            let auth = try layout.resolve(OpenStackSettings(cloud: "research"))
            #expect(auth == OpenStackAuth(
                authURL: try Self.url("https://keystone.example.org:5000/v3/"),
                method: .password(username: "alice", password: Secret(Self.password), userDomainName: "Users", userDomainID: nil),
                projectName: "hpc", projectDomainName: "Projects", region: "RegionTwo", interface: "internal",
                source: "clouds.yaml cloud 'research' (~/.config/openstack/clouds.yaml)"))
        }
    }

    @Test func theWorkingDirectoryThenTheHomeThenTheSystemFolder() throws {
        try withLayout { layout in
            func cloud(_ host: String) -> String {
                "clouds:\n  research:\n    auth:\n      auth_url: https://\(host)\n      username: u\n      password: p\n      project_name: x\n"
            }
            let places = [(layout.work, "work.example"), (layout.homeConfig, "home.example"), (layout.system, "etc.example")]
            for (folder, host) in places { try layout.write(folder + "/clouds.yaml", cloud(host)) }
            for (folder, host) in places {
                let auth = try layout.resolve(OpenStackSettings(cloud: "research"))
                #expect(auth.authURL.host == host, "\(folder) is next in line")
                #expect(auth.source.contains(layout.shown(folder + "/clouds.yaml")))
                try FileManager.default.removeItem(atPath: folder + "/clouds.yaml")
            }
        }
    }

    @Test func theFirstFileFoundIsTheOnlyOneRead() throws {
        try withLayout { layout in
            try layout.write(layout.work + "/clouds.yaml", "clouds:\n  other:\n    auth:\n      auth_url: https://o\n")
            try layout.write(layout.homeConfig + "/clouds.yaml", Self.cloudsYAML)
            let error = layout.error(OpenStackSettings(cloud: "research"))
            #expect(error?.message.contains("is not in \(layout.shown(layout.work + "/clouds.yaml")), which has: other") == true,
                    "\(String(describing: error))")
        }
    }

    @Test func theYmlAndJSONSpellingsCount() throws {
        try withLayout { layout in
            try layout.write(layout.system + "/clouds.json", """
                {"clouds": {"research": {"auth": {"auth_url": "https://json.example/v3", "username": "u",
                 "password": "p", "project_name": "x"}}}}
                """)
            #expect(try layout.resolve(OpenStackSettings(cloud: "research")).authURL.host == "json.example")
            try layout.write(layout.homeConfig + "/clouds.yml", Self.cloudsYAML)
            #expect(try layout.resolve(OpenStackSettings(cloud: "research")).authURL.host == "keystone.example.org")
        }
    }

    @Test func osClientConfigFileReplacesTheSearch() throws {
        try withLayout { layout in
            try layout.write(layout.work + "/clouds.yaml", "clouds:\n  research:\n    auth:\n      auth_url: https://work.example\n")
            try layout.write(layout.home.path + "/elsewhere/my-clouds.yaml", Self.cloudsYAML)
            let auth = try layout.resolve(OpenStackSettings(cloud: "research"),
                                          ["OS_CLIENT_CONFIG_FILE": "~/elsewhere/my-clouds.yaml"])
            #expect(auth.authURL.host == "keystone.example.org")
            #expect(auth.source == "clouds.yaml cloud 'research' (~/elsewhere/my-clouds.yaml)")

            let error = layout.error(OpenStackSettings(cloud: "research"), ["OS_CLIENT_CONFIG_FILE": "/nonexistent/clouds.yaml"])
            #expect(error?.code == .config)
            #expect(error?.message == "OS_CLIENT_CONFIG_FILE names /nonexistent/clouds.yaml, which does not exist.")
        }
    }

    @Test func secureYAMLIsMergedOverCloudsYAML() throws {
        try withLayout { layout in
            // The password only in secure.yaml, which sits in another of the folders.
            try layout.write(layout.system + "/clouds.yaml", """
                clouds:
                  research:
                    auth: {auth_url: "https://keystone.example.org/v3", username: alice, project_name: hpc}
                    region_name: RegionOne
                """)
            try layout.write(layout.homeConfig + "/secure.yaml", """
                clouds:
                  research:
                    auth:
                      password: \(Self.password)
                """)
            let auth = try layout.resolve(OpenStackSettings(cloud: "research"))
            #expect(auth.method == .password(username: "alice", password: Secret(Self.password), userDomainName: "Default", userDomainID: nil))
            #expect(auth.projectName == "hpc", "the rest of auth: is kept: the merge is deep")
            #expect(auth.region == "RegionOne")
            #expect(auth.source == "clouds.yaml cloud 'research' (\(layout.shown(layout.system))/clouds.yaml and ~/.config/openstack/secure.yaml)")
        }
    }

    @Test func osClientSecureFileNamesTheSecureFile() throws {
        try withLayout { layout in
            try layout.write(layout.work + "/clouds.yaml", """
                clouds:
                  research: {auth: {auth_url: "https://k/v3", username: alice, password: wrong, project_name: hpc}}
                """)
            try layout.write(layout.work + "/secure.yaml", "clouds: {research: {auth: {password: not-this-one}}}")
            try layout.write(layout.home.path + "/vault/s.yaml", "clouds: {research: {auth: {password: \(Self.password)}}}")
            let auth = try layout.resolve(OpenStackSettings(cloud: "research"), ["OS_CLIENT_SECURE_FILE": layout.home.path + "/vault/s.yaml"])
            #expect(auth.method == .password(username: "alice", password: Secret(Self.password), userDomainName: "Default", userDomainID: nil))
        }
    }

    @Test func osCloudNamesTheCloudWhenTheConfigDoesNot() throws {
        try withLayout { layout in
            try layout.write(layout.homeConfig + "/clouds.yaml", Self.cloudsYAML)
            let byEnvironment = try layout.resolve(OpenStackSettings(), ["OS_CLOUD": "teaching"])
            #expect(byEnvironment.method == .password(username: "bob", password: Secret("other-pw"), userDomainName: "Default", userDomainID: nil))
            #expect(byEnvironment.projectID == "0c4e9b")
            #expect(byEnvironment.projectDomainName == nil, "a project id needs no domain")
            #expect(byEnvironment.authURL.absoluteString == "https://keystone.teaching.example.org/v3/")

            let byConfig = try layout.resolve(OpenStackSettings(cloud: "research"), ["OS_CLOUD": "teaching"])
            #expect(byConfig.projectName == "hpc", "cloud: in the cloudc config wins over OS_CLOUD")
        }
    }

    @Test func aNamedCloudWinsOverTheEnvironmentsCredentials() throws {
        try withLayout { layout in
            try layout.write(layout.homeConfig + "/clouds.yaml", Self.cloudsYAML)
            let auth = try layout.resolve(OpenStackSettings(), ["OS_CLOUD": "research", "OS_AUTH_URL": "https://env.example/v3",
                                                                "OS_USERNAME": "env-user", "OS_PASSWORD": "env-pw"])
            #expect(auth.authURL.host == "keystone.example.org")
            #expect(auth.method == .password(username: "alice", password: Secret(Self.password), userDomainName: "Users", userDomainID: nil))
        }
    }

    @Test func aCloudWithoutAPasswordTakesOSPassword() throws {
        try withLayout { layout in
            try layout.write(layout.homeConfig + "/clouds.yaml",
                             "clouds:\n  research:\n    auth: {auth_url: \"https://k/v3\", username: alice, project_name: hpc}\n")
            let auth = try layout.resolve(OpenStackSettings(cloud: "research"), ["OS_PASSWORD": Self.password])
            #expect(auth.method == .password(username: "alice", password: Secret(Self.password), userDomainName: "Default", userDomainID: nil))
            #expect(auth.source.hasSuffix(", with the password from OS_PASSWORD"))
        }
    }

    @Test func anUnknownCloudListsTheKnownOnesWithADidYouMean() throws {
        try withLayout { layout in
            try layout.write(layout.homeConfig + "/clouds.yaml", Self.cloudsYAML)
            let error = try #require(layout.error(OpenStackSettings(cloud: "reserch")))
            #expect(error.code == .credentials)
            #expect(error.message == "OpenStack cloud 'reserch' (named by cloud: in clouds.uni of the cloudc config) is not in "
                        + "~/.config/openstack/clouds.yaml, which has: appcred, research, teaching; did you mean 'research'?")
            #expect(error.fix?.contains("Set cloud: in clouds.uni to one of appcred, research, teaching") == true)

            let fromEnvironment = try #require(layout.error(OpenStackSettings(), ["OS_CLOUD": "nowhere"]))
            #expect(fromEnvironment.message.contains("(named by OS_CLOUD)"))
            #expect(!fromEnvironment.message.contains("did you mean"))
            #expect(fromEnvironment.fix?.hasPrefix("Export OS_CLOUD=") == true)
        }
    }

    @Test func aNamedCloudWithoutAnyCloudsYAMLSaysWhereItLooked() throws {
        try withLayout { layout in
            let error = try #require(layout.error(OpenStackSettings(cloud: "research")))
            #expect(error.code == .credentials)
            #expect(error.message.contains("no clouds.yaml found (looked at \(layout.shown(layout.work))/clouds.yaml, "
                                           + "~/.config/openstack/clouds.yaml, \(layout.shown(layout.system))/clouds.yaml (and .yml, .json))"),
                    "\(error)")
        }
    }

    @Test func theOnlyCloudIsUsedWhenNothingNamesOne() throws {
        try withLayout { layout in
            try layout.write(layout.homeConfig + "/clouds.yaml", "clouds:\n  solo:\n    auth: {auth_url: \"https://k\", username: u, password: p, project_name: x}\n")
            let auth = try layout.resolve(OpenStackSettings(region: "RegionNine"))
            #expect(auth.source == "clouds.yaml cloud 'solo' (~/.config/openstack/clouds.yaml)")
            #expect(auth.region == "RegionNine")

            try layout.write(layout.homeConfig + "/clouds.yaml", Self.cloudsYAML)
            let error = try #require(layout.error(OpenStackSettings()))
            #expect(error.message.contains("has several clouds: appcred, research, teaching"))
            #expect(error.fix?.contains("cloud: appcred") == true)
        }
    }

    @Test func nothingAtAllSaysWhatWasLookedAt() throws {
        try withLayout { layout in
            let error = try #require(layout.error(OpenStackSettings(), ["OS_REGION_NAME": "RegionOne"]))
            #expect(error.code == .credentials)
            #expect(error.message.contains("it has neither cloud: nor auth_url:, OS_CLOUD and OS_AUTH_URL are not set"))
            #expect(error.message.contains("no clouds.yaml found"))
            #expect(error.fix?.contains("openrc") == true)
        }
    }

    @Test func openstacksdkSpellingsAreUnderstood() throws {
        try withLayout { layout in
            try layout.write(layout.homeConfig + "/clouds.yaml", """
                clouds:
                  old:
                    auth_type: v3password
                    auth:
                      auth-url: https://keystone.example.org:5000/v2.0
                      username: alice
                      password: p
                      tenant-name: legacy
                      domain_name: Shared
                    project_name: beside-auth-wins
                    endpoint_type: internalURL
                    regions: [RegionA, {name: RegionB}]
                """)
            let auth = try layout.resolve(OpenStackSettings(cloud: "old"))
            #expect(auth.authURL.absoluteString == "https://keystone.example.org:5000/v3/")
            #expect(auth.method == .password(username: "alice", password: Secret("p"), userDomainName: "Shared", userDomainID: nil))
            #expect(auth.projectName == "beside-auth-wins")
            #expect(auth.projectDomainName == "Shared", "domain_name stands for both domains")
            #expect(auth.interface == "internal")
            #expect(auth.region == "RegionA", "the first of regions:")
        }
    }

    @Test func domainsByIDAndTheDefaultDomain() throws {
        try withLayout { layout in
            try layout.write(layout.homeConfig + "/clouds.yaml", """
                clouds:
                  ids:
                    auth: {auth_url: "https://k/v3", username: alice, password: p, project_name: hpc,
                           user_domain_id: d-user, project_domain_id: d-project}
                  plain:
                    auth: {auth_url: "https://k/v3", username: alice, password: p, project_name: hpc}
                """)
            let ids = try layout.resolve(OpenStackSettings(cloud: "ids"))
            #expect(ids.method == .password(username: "alice", password: Secret("p"), userDomainName: nil, userDomainID: "d-user"))
            #expect(ids.projectDomainID == "d-project")
            #expect(ids.projectDomainName == nil)
            let plain = try layout.resolve(OpenStackSettings(cloud: "plain"))
            #expect(plain.method == .password(username: "alice", password: Secret("p"), userDomainName: "Default", userDomainID: nil))
            #expect(plain.projectDomainName == "Default")
            #expect(plain.interface == "public")
            #expect(plain.region == nil)
        }
    }

    @Test func anApplicationCredentialIsInferredFromItsKeys() throws {
        try withLayout { layout in
            try layout.write(layout.homeConfig + "/clouds.yaml", Self.cloudsYAML)
            let auth = try layout.resolve(OpenStackSettings(cloud: "appcred"))
            #expect(auth == OpenStackAuth(
                authURL: try Self.url("https://keystone.example.org:5000/v3/"),
                method: .applicationCredential(id: "ac-123", secret: Secret(Self.secret)), region: "RegionOne",
                source: "clouds.yaml cloud 'appcred' (~/.config/openstack/clouds.yaml)"))
        }
    }

    @Test func theDashboardsApplicationCredentialFileWorks() throws {
        try withLayout { layout in
            // As Horizon writes it (Identity → Application Credentials → Download clouds.yaml).
            try layout.write(layout.work + "/clouds.yaml", """
                # This is a clouds.yaml file, which can be used by OpenStack tools as a source
                # of configuration on how to connect to a cloud.
                clouds:
                  openstack:
                    auth:
                      auth_url: https://keystone.example.org:5000
                      application_credential_id: "9f8e7d"
                      application_credential_secret: "\(Self.secret)"
                    region_name: "RegionOne"
                    interface: "public"
                    identity_api_version: 3
                    auth_type: "v3applicationcredential"
                """)
            let auth = try layout.resolve(OpenStackSettings())
            #expect(auth.method == .applicationCredential(id: "9f8e7d", secret: Secret(Self.secret)))
            #expect(auth.projectName == nil && auth.projectID == nil, "the credential's project is its own")
        }
    }

    // MARK: - The environment

    @Test func theOSEnvironmentAlone() throws {
        try withLayout { layout in
            try layout.write(layout.homeConfig + "/clouds.yaml", Self.cloudsYAML)   // not read: nothing names a cloud
            let environment = [
                "OS_AUTH_URL": "https://keystone.env.example:5000/v3/", "OS_USERNAME": "carol", "OS_PASSWORD": Self.password,
                "OS_TENANT_NAME": "old-name", "OS_USER_DOMAIN_NAME": "Users", "OS_PROJECT_DOMAIN_ID": "pd-1",
                "OS_REGION_NAME": "RegionThree", "OS_INTERFACE": "admin", "OS_IDENTITY_API_VERSION": "3",
                "OS_TEST_TIMEOUT": "60", "PATH": "/usr/bin",
            ]
            let auth = try layout.resolve(OpenStackSettings(), environment)
            #expect(auth == OpenStackAuth(
                authURL: try Self.url("https://keystone.env.example:5000/v3/"),
                method: .password(username: "carol", password: Secret(Self.password), userDomainName: "Users", userDomainID: nil),
                projectName: "old-name", projectDomainID: "pd-1", region: "RegionThree", interface: "admin",
                source: "OS_* environment variables"))
        }
    }

    @Test func anApplicationCredentialFromTheEnvironment() throws {
        try withLayout { layout in
            let auth = try layout.resolve(OpenStackSettings(), [
                "OS_AUTH_TYPE": "v3applicationcredential", "OS_AUTH_URL": "https://k.example/identity",
                "OS_APPLICATION_CREDENTIAL_ID": "ac-9", "OS_APPLICATION_CREDENTIAL_SECRET": Self.secret,
            ])
            #expect(auth.method == .applicationCredential(id: "ac-9", secret: Secret(Self.secret)))
            #expect(auth.authURL.absoluteString == "https://k.example/identity/v3/")
        }
    }

    // MARK: - The cloudc config's keys

    @Test func theConfigsKeysOverrideCloudsYAML() throws {
        try withLayout { layout in
            try layout.write(layout.homeConfig + "/clouds.yaml", Self.cloudsYAML)
            let settings = OpenStackSettings(cloud: "teaching", region: "RegionZ", authURL: "https://override.example:5000",
                                             password: "config-pw", projectName: "named-project", projectDomain: "PD",
                                             interface: "internal")
            let auth = try layout.resolve(settings)
            #expect(auth == OpenStackAuth(
                authURL: try Self.url("https://override.example:5000/v3/"),
                method: .password(username: "bob", password: Secret("config-pw"), userDomainName: "Default", userDomainID: nil),
                projectName: "named-project", projectID: nil, projectDomainName: "PD", region: "RegionZ", interface: "internal",
                source: "clouds.yaml cloud 'teaching' (~/.config/openstack/clouds.yaml), "
                    + "with auth_url, password, project_name, project_domain_name from clouds.uni in the cloudc config"),
                "a project name in the config replaces clouds.yaml's project id")
        }
    }

    @Test func theConfigsKeysOverrideTheEnvironment() throws {
        try withLayout { layout in
            let environment = ["OS_AUTH_URL": "https://env.example/v3", "OS_USERNAME": "carol", "OS_PASSWORD": "env-pw",
                               "OS_PROJECT_NAME": "p", "OS_REGION_NAME": "EnvRegion"]
            let auth = try layout.resolve(OpenStackSettings(region: "ConfigRegion", username: "dave", password: Self.password), environment)
            #expect(auth.method == .password(username: "dave", password: Secret(Self.password), userDomainName: "Default", userDomainID: nil))
            #expect(auth.region == "ConfigRegion")
            #expect(auth.source == "OS_* environment variables, with username, password from clouds.uni in the cloudc config")
        }
    }

    @Test func anApplicationCredentialInTheConfigReplacesAPasswordCloud() throws {
        try withLayout { layout in
            try layout.write(layout.homeConfig + "/clouds.yaml", Self.cloudsYAML)
            let auth = try layout.resolve(OpenStackSettings(cloud: "research", applicationCredentialID: "ac-cfg",
                                                            applicationCredentialSecret: Self.secret))
            #expect(auth.method == .applicationCredential(id: "ac-cfg", secret: Secret(Self.secret)))
            #expect(auth.authURL.host == "keystone.example.org")
        }
    }

    @Test func theConfigAlone() throws {
        try withLayout { layout in
            let auth = try layout.resolve(OpenStackSettings(authURL: "http://127.0.0.1:5000/", username: "u", password: Self.password,
                                                            projectName: "demo", userDomain: "Users"))
            #expect(auth == OpenStackAuth(
                authURL: try Self.url("http://127.0.0.1:5000/v3/"),
                method: .password(username: "u", password: Secret(Self.password), userDomainName: "Users", userDomainID: nil),
                projectName: "demo", projectDomainName: "Default", source: "clouds.uni in the cloudc config"))
        }
    }

    // MARK: - Values

    @Test(arguments: [
        ("https://keystone.example.org:5000", "https://keystone.example.org:5000/v3/"),
        ("https://keystone.example.org:5000/", "https://keystone.example.org:5000/v3/"),
        ("https://keystone.example.org:5000/v3", "https://keystone.example.org:5000/v3/"),
        ("https://keystone.example.org:5000/v3/", "https://keystone.example.org:5000/v3/"),
        ("https://keystone.example.org/v2.0", "https://keystone.example.org/v3/"),
        ("http://10.0.0.5/identity", "http://10.0.0.5/identity/v3/"),
        ("http://10.0.0.5/identity/v3?x=1#f", "http://10.0.0.5/identity/v3/"),
        (" https://k.example/v3 ", "https://k.example/v3/"),
    ])
    func authURLsEndInV3(given: String, expected: String) throws {
        let url = try #require(OpenStackCredentialResolver.normalizedAuthURL(given))
        #expect(url.absoluteString == expected)
        #expect(URL(string: "auth/tokens", relativeTo: url)?.absoluteString == expected + "auth/tokens")
    }

    @Test(arguments: ["keystone.example.org:5000", "ftp://k.example/v3", "https://", "not a url"])
    func authURLsThatAreNotHTTPAreRefused(given: String) {
        #expect(OpenStackCredentialResolver.normalizedAuthURL(given) == nil)
    }

    @Test func anAuthURLThatIsNotAURLIsAConfigError() throws {
        try withLayout { layout in
            let error = layout.error(OpenStackSettings(authURL: "keystone:5000", username: "u", password: "p", projectName: "x"))
            #expect(error?.code == .config)
            #expect(error?.message.contains("auth_url 'keystone:5000' is not an http(s) URL") == true)
        }
    }

    @Test func interfacesAreCheckedAndTheOldSpellingsTaken() throws {
        #expect(OpenStackCredentialResolver.normalizedInterface("publicURL") == "public")
        #expect(OpenStackCredentialResolver.normalizedInterface("Internal") == "internal")
        #expect(OpenStackCredentialResolver.normalizedInterface("private") == nil)
        try withLayout { layout in
            let error = layout.error(OpenStackSettings(), ["OS_AUTH_URL": "https://k/v3", "OS_USERNAME": "u", "OS_PASSWORD": "p",
                                                           "OS_PROJECT_NAME": "x", "OS_INTERFACE": "private"])
            #expect(error?.code == .config)
            #expect(error?.message == "The OS_* environment variables: interface 'private' is not public, internal or admin.")
        }
    }

    // MARK: - What is missing or wrong

    @Test func missingKeysOfACloudsYAMLCloudNameTheFileTheCloudAndTheKey() throws {
        try withLayout { layout in
            try layout.write(layout.homeConfig + "/clouds.yaml", """
                clouds:
                  no-url: {auth: {username: u, password: \(Self.password), project_name: x}}
                  no-user: {auth: {auth_url: "https://k/v3", password: \(Self.password), project_name: x}}
                  no-password: {auth: {auth_url: "https://k/v3", username: u, project_name: x}}
                  no-project: {auth: {auth_url: "https://k/v3", username: u, password: \(Self.password)}}
                  no-secret: {auth: {auth_url: "https://k/v3", application_credential_id: ac}}
                  vendor: {profile: vexxhost, auth: {username: u, password: \(Self.password), project_name: x}}
                """)
            let file = "~/.config/openstack/clouds.yaml"
            let cases: [(String, String, String)] = [
                ("no-url", "OpenStack cloud 'no-url' in \(file) has no auth_url.", "under clouds.no-url.auth in \(file)"),
                ("no-user", "OpenStack cloud 'no-user' in \(file) has no username.", "`username: alice`"),
                ("no-password", "OpenStack cloud 'no-password' in \(file) has no password.", "secure.yaml"),
                ("no-project", "OpenStack cloud 'no-project' in \(file) has no project_name (nor project_id): cloudc needs a token scoped to a project.", "project_name"),
                ("no-secret", "OpenStack cloud 'no-secret' in \(file) has no application_credential_secret.", "application_credential_secret"),
                ("vendor", "OpenStack cloud 'vendor' in \(file) has no auth_url (it uses the vendor profile 'vexxhost', which cloudc does not read).", "auth_url"),
            ]
            for (cloud, message, fix) in cases {
                let error = try #require(layout.error(OpenStackSettings(cloud: cloud)))
                #expect(error.code == .credentials)
                #expect(error.message == message)
                #expect(error.fix?.contains(fix) == true, "\(error)")
                #expect(error.fix?.contains("clouds.uni of the cloudc config") == true)
            }
        }
    }

    @Test func missingKeysOfTheEnvironmentNameTheVariable() throws {
        try withLayout { layout in
            let noURL = try #require(layout.error(OpenStackSettings(), ["OS_USERNAME": "u", "OS_PASSWORD": Self.password]))
            #expect(noURL.message == "The OS_* environment variables have no OS_AUTH_URL.")
            #expect(noURL.fix?.hasPrefix("Export OS_AUTH_URL=https://keystone.example.org:5000/v3") == true)
            let noProject = try #require(layout.error(OpenStackSettings(), ["OS_AUTH_URL": "https://k", "OS_USERNAME": "u",
                                                                           "OS_PASSWORD": Self.password]))
            #expect(noProject.message.hasPrefix("The OS_* environment variables have no OS_PROJECT_NAME"))
        }
    }

    @Test func unsupportedMethodsAndVersionsAreNamed() throws {
        try withLayout { layout in
            try layout.write(layout.homeConfig + "/clouds.yaml", """
                clouds:
                  token: {auth_type: token, auth: {auth_url: "https://k/v3", token: abc}}
                  v2: {identity_api_version: "2.0", auth: {auth_url: "https://k/v2.0", username: u, password: p, project_name: x}}
                  by-id: {auth: {auth_url: "https://k/v3", user_id: u-1, password: p, project_name: x}}
                """)
            let token = try #require(layout.error(OpenStackSettings(cloud: "token")))
            #expect(token.code == .config)
            #expect(token.message.contains("uses auth_type 'token', which cloudc does not support"))
            let v2 = try #require(layout.error(OpenStackSettings(cloud: "v2")))
            #expect(v2.message.contains("identity API version 2.0; cloudc speaks v3 only"))
            let byID = try #require(layout.error(OpenStackSettings(cloud: "by-id")))
            #expect(byID.message.contains("names the user by user_id"))
        }
    }

    @Test func badYAMLNamesTheFileAndLineButNotTheLine() throws {
        try withLayout { layout in
            try layout.write(layout.homeConfig + "/clouds.yaml", """
                clouds:
                  research:
                    auth:
                      password: "\(Self.password)
                      username: alice
                """)
            let error = try #require(layout.error(OpenStackSettings(cloud: "research")))
            #expect(error.code == .config)
            #expect(error.message.hasPrefix("~/.config/openstack/clouds.yaml:"), "\(error)")
            #expect(error.message.contains("YAML syntax error"))
            #expect(!String(describing: error).contains(Self.password))
        }
    }

    @Test func aFileThatIsNotACloudsFileIsNamed() throws {
        try withLayout { layout in
            try layout.write(layout.work + "/clouds.yaml", "- just\n- a list\n")
            let error = try #require(layout.error(OpenStackSettings(cloud: "x")))
            #expect(error.message == "\(layout.shown(layout.work))/clouds.yaml is not a clouds.yaml file: its top level is not a mapping")
        }
    }

    // MARK: - Secrets

    @Test func noSecretInAnyErrorOrDescription() throws {
        try withLayout { layout in
            try layout.write(layout.homeConfig + "/clouds.yaml", Self.cloudsYAML + """

                  broken-user: {auth: {auth_url: "https://k/v3", password: \(Self.password), project_name: x}}
                  broken-secret: {auth: {auth_url: "https://k/v3", application_credential_secret: \(Self.secret)}}
                """)
            let environment = ["OS_PASSWORD": Self.password, "OS_APPLICATION_CREDENTIAL_SECRET": Self.secret, "OS_USERNAME": "u"]
            var texts: [String] = []
            for cloud in ["broken-user", "broken-secret", "missing"] {
                if let error = layout.error(OpenStackSettings(cloud: cloud), environment) { texts.append(String(describing: error)) }
            }
            if let error = layout.error(OpenStackSettings(), environment) { texts.append(String(describing: error)) }
            #expect(texts.count == 4)
            for cloud in ["research", "appcred"] {
                let auth = try layout.resolve(OpenStackSettings(cloud: cloud))
                texts += [String(describing: auth), String(reflecting: auth), dumped(auth), "\(auth.method)", dumped(auth.method)]
            }
            let resolver = layout.resolver(environment)
            texts += [String(describing: resolver), dumped(resolver)]
            for text in texts {
                #expect(!text.contains(Self.password), "\(text)")
                #expect(!text.contains(Self.secret), "\(text)")
            }
        }
    }
}
