import CloudcCore
import Testing
@testable import Config

/// No error shows a secret's value, even when the value is what is wrong.
@Suite("secrets stay out of errors")
struct SecretTests {
    static let openStack = "clouds:\n  uni:\n    provider: openstack\n"
    static let ec2 = "clouds:\n  aws:\n    provider: ec2\n"

    @Test(arguments: [
        openStack + "    password: [hunter2]\n",                                  // wrong type (list)
        openStack + "    application_credential_secret: {hunter2: x}\n",          // wrong type (mapping)
        openStack + "    password: \"hunter2${bad-name}\"\n",                     // bad reference
        openStack + "    password: \"hunter2${UNSET}\"\n",                        // unset variable
        openStack + "    password: \"hunter2\n    region: x\n",                   // YAML syntax error
        openStack + "    password: hunter2\n    password: hunter2\n",             // duplicate key
        openStack + "    application_credential_secret: hunter2\n",               // id missing
        ec2 + "    password: hunter2\n",                                          // key of another provider
        ec2 + "    secret_access_key: hunter2\n",                                 // access_key_id missing
        ec2 + "    session_token: hunter2${X\n",                                  // unterminated reference
        "clouds:\n  aws:\n    secret_access_key: hunter2\n",                      // provider missing
        "clouds:\n  aws:\n    provider: ec2\n    secret_access_key: hunter2\n    access_key_id: [k]\n",
        "clouds:\n  aws:\n    provider: ec2\n    secret_acces_key: hunter2\n",     // misspelt secret key
    ])
    func secretNeverInTheError(yaml: String) throws {
        let error = try #require(Fixtures.error(yaml))
        #expect(error.code == .config)
        #expect(error.message.hasPrefix(Fixtures.path + ":"), "\(error.message)")
        #expect(!error.fullText.contains("hunter2"), "\(error.fullText)")
        #expect(!error.description.contains("hunter2"))
    }

    @Test func secretsAreRead() throws {
        let config = try Fixtures.parse(Self.ec2 + "    access_key_id: AKIA1\n    secret_access_key: ${S}\n",
                                        environment: ["S": "hunter2"])
        #expect(config.clouds["aws"]?.settings == .ec2(EC2Settings(accessKeyID: "AKIA1", secretAccessKey: "hunter2")))
        #expect(config.clouds["aws"]?.redacted().settings == .ec2(EC2Settings(accessKeyID: "AKIA1")))
    }
}
