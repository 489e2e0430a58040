import CloudcCore
import Foundation

/// An AWS access key and where it was found. Its secret parts never print: not in
/// `description`, not in `dump`.
public struct AWSCredentials: Sendable, Equatable, CustomStringConvertible, CustomReflectable {
    public var accessKeyID: String
    public var secretAccessKey: Secret
    public var sessionToken: Secret?
    /// Where the key came from, for messages: `environment`, `profile research in ~/.aws/credentials`.
    public var source: String

    public init(accessKeyID: String, secretAccessKey: Secret, sessionToken: Secret? = nil, source: String) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.source = source
    }

    public var description: String {
        "access key \(accessKeyID) from \(source)" + (sessionToken == nil ? "" : ", with a session token")
    }

    public var customMirror: Mirror {
        Mirror(self, children: ["accessKeyID": accessKeyID, "source": source,
                                "hasSessionToken": sessionToken != nil], displayStyle: .struct)
    }
}

/// Finds the AWS credentials and region for an EC2 cloud, the way the AWS CLI does for
/// static keys: the cloud's own settings, then the environment, then the shared files.
///
/// Only static keys (with an optional session token) are supported: profiles that assume a
/// role, use SSO or run a `credential_process` are reported as such, with a way around.
/// The environment and home directory are parameters, so tests need no real `~/.aws`.
public struct AWSCredentialResolver: Sendable, CustomStringConvertible, CustomReflectable {
    /// Holds secrets (`AWS_SECRET_ACCESS_KEY`), so it is not shown by `description` or `dump`.
    let environment: [String: String]
    public let homeDirectory: String

    public init(environment: [String: String], homeDirectory: String) {
        self.environment = environment
        self.homeDirectory = homeDirectory
    }

    public var description: String {
        "AWSCredentialResolver(credentialsFile: \(credentialsFile), configFile: \(configFile))"
    }

    public var customMirror: Mirror {
        Mirror(self, children: ["homeDirectory": homeDirectory, "credentialsFile": credentialsFile,
                                "configFile": configFile], displayStyle: .struct)
    }

    /// `AWS_SHARED_CREDENTIALS_FILE`, else `~/.aws/credentials`.
    public var credentialsFile: String {
        expandingTilde(variable("AWS_SHARED_CREDENTIALS_FILE") ?? "~/.aws/credentials")
    }

    /// `AWS_CONFIG_FILE`, else `~/.aws/config`.
    public var configFile: String {
        expandingTilde(variable("AWS_CONFIG_FILE") ?? "~/.aws/config")
    }

    /// The first of:
    /// 1. explicit keys in the cloud's settings (`accessKeyID` + `secretAccessKey`, and `sessionToken`);
    /// 2. `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY` (+ `AWS_SESSION_TOKEN`), unless the cloud's
    ///    settings name a profile: a profile chosen in the config wins over keys that happen to be
    ///    exported, as with the AWS CLI's `--profile`;
    /// 3. the profile `settings.profile`, else `AWS_PROFILE`, else `default`: section `[NAME]` of
    ///    the credentials file, else `[profile NAME]` (`[default]`) of the config file.
    ///
    /// Throws `CloudcError(.config)` for half a key pair in the settings, and
    /// `CloudcError(.credentials)` when nothing is found (naming every place looked at), when a
    /// named profile is missing, or when a profile has no static keys.
    public func credentials(for settings: EC2Settings) throws -> AWSCredentials {
        if let explicit = try fromSettings(settings) { return explicit }

        let profile = profileChoice(settings)
        var lookedAt = ["the cloud's settings (access_key_id and secret_access_key): not set"]
        if profile.origin == .settings {
            lookedAt.append("the environment: not used, because the cloud's settings name a profile")
        } else {
            if let fromEnvironment = try fromEnvironment() { return fromEnvironment }
            lookedAt.append("the environment (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY): not set")
        }

        let credentialsPath = credentialsFile
        let credentialsShown = display(credentialsPath)
        let credentialsFile = try AWSSharedFile.load(path: credentialsPath, displayPath: credentialsShown)
        let credentialsSection = credentialsFile?.credentialsProfile(profile.name)
        if let keys = credentialsSection,
           let found = try fromProfile(keys, profile: profile.name, file: credentialsShown) {
            return found
        }

        let configPath = configFile
        let configShown = display(configPath)
        let configFile = try AWSSharedFile.load(path: configPath, displayPath: configShown)
        let configSection = configFile?.configProfile(profile.name)
        if let keys = configSection, let found = try fromProfile(keys, profile: profile.name, file: configShown) {
            return found
        }

        for (keys, file) in [(credentialsSection, credentialsShown), (configSection, configShown)] {
            if let keys, let unsupported = Self.unsupportedKeys.first(where: { keys[$0] != nil }) {
                throw CloudcError(
                    .credentials,
                    "AWS profile \"\(profile.name)\" in \(file) has no aws_access_key_id: it uses "
                        + "\(unsupported), which cloudc does not support.",
                    fix: "Export temporary keys for it, e.g. "
                        + "`eval \"$(aws configure export-credentials --profile \(profile.name) --format env)\"`, "
                        + "or give the profile aws_access_key_id and aws_secret_access_key.")
            }
        }

        let credentialsState = Self.state(of: credentialsFile, section: credentialsSection,
                                          header: "[\(profile.name)]")
        let configState = Self.state(of: configFile, section: configSection,
                                     header: AWSSharedFile.configSectionHeader(for: profile.name))
        if profile.origin != .fallback, credentialsSection == nil, configSection == nil {
            throw CloudcError(
                .credentials,
                "AWS profile \"\(profile.name)\" (\(profile.origin.phrase)) is not in \(credentialsShown) "
                    + "(\(credentialsState)) nor in \(configShown) (\(configState)).",
                fix: "Add it, e.g. with `aws configure --profile \(profile.name)`, or "
                    + (profile.origin == .settings ? "change `profile:` in the cloud's settings."
                                                   : "change or unset AWS_PROFILE."))
        }

        lookedAt.append("profile \"\(profile.name)\" in \(credentialsShown): \(credentialsState)")
        lookedAt.append("profile \"\(profile.name)\" in \(configShown): \(configState)")
        throw CloudcError(
            .credentials,
            "No AWS credentials found. Looked at " + lookedAt.joined(separator: "; ") + ".",
            fix: "Export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run `aws configure` to write "
                + "\(credentialsShown), or set `profile:` (or access_key_id and secret_access_key) "
                + "in the cloud's settings.")
    }

    /// The first of `settings.region`, `AWS_REGION`, `AWS_DEFAULT_REGION`, and the `region` of
    /// the profile (chosen as for credentials) in the config file.
    /// Throws `CloudcError(.config)` saying how to set one when none is found.
    public func region(for settings: EC2Settings) throws -> String {
        if let region = Self.nonEmpty(settings.region) { return region }
        if let region = variable("AWS_REGION") ?? variable("AWS_DEFAULT_REGION") { return region }
        let profile = profileChoice(settings)
        let configShown = display(configFile)
        let config = try AWSSharedFile.load(path: configFile, displayPath: configShown)
        if let region = Self.nonEmpty(config?.configProfile(profile.name)?["region"]) { return region }
        let inConfig = config == nil ? "and there is no \(configShown)"
                                     : "and profile \"\(profile.name)\" in \(configShown) has no region"
        throw CloudcError(
            .config,
            "No AWS region is set: not in the cloud's settings, not in AWS_REGION or AWS_DEFAULT_REGION, \(inConfig).",
            fix: "Add `region: us-east-1` (your region) to the cloud's settings, or export AWS_REGION, or add "
                + "`region = us-east-1` under \(AWSSharedFile.configSectionHeader(for: profile.name)) in \(configShown).")
    }
}

// MARK: - The steps

extension AWSCredentialResolver {
    /// Which profile to read and who chose it.
    struct ProfileChoice: Equatable {
        enum Origin: Equatable {
            case settings, environment, fallback
            var phrase: String {
                switch self {
                case .settings: "named in the cloud's settings"
                case .environment: "named by AWS_PROFILE"
                case .fallback: "the default"
                }
            }
        }
        var name: String
        var origin: Origin
    }

    /// Keys that make a profile get its credentials some other way than static keys.
    static let unsupportedKeys = ["role_arn", "sso_session", "sso_start_url", "credential_process",
                                  "web_identity_token_file", "login_session"]

    func profileChoice(_ settings: EC2Settings) -> ProfileChoice {
        if let name = Self.nonEmpty(settings.profile) { return ProfileChoice(name: name, origin: .settings) }
        if let name = variable("AWS_PROFILE") { return ProfileChoice(name: name, origin: .environment) }
        return ProfileChoice(name: "default", origin: .fallback)
    }

    func fromSettings(_ settings: EC2Settings) throws -> AWSCredentials? {
        let token = Self.nonEmpty(settings.sessionToken)
        let pair = try Self.keyPair(
            id: ("access_key_id", Self.nonEmpty(settings.accessKeyID)),
            secret: ("secret_access_key", Self.nonEmpty(settings.secretAccessKey)),
            token: token, source: "the cloud's settings", place: "The cloud's settings", code: .config,
            fix: { lacks in "Set \(lacks) too, or remove the other key to use the environment or an ~/.aws profile." })
        if pair == nil, token != nil {
            throw CloudcError(.config, "The cloud's settings have session_token but no access key.",
                              fix: "Set access_key_id and secret_access_key with it, or remove session_token.")
        }
        return pair
    }

    func fromEnvironment() throws -> AWSCredentials? {
        try Self.keyPair(
            id: ("AWS_ACCESS_KEY_ID", variable("AWS_ACCESS_KEY_ID")),
            secret: ("AWS_SECRET_ACCESS_KEY", variable("AWS_SECRET_ACCESS_KEY")),
            token: variable("AWS_SESSION_TOKEN"), source: "environment", place: "The environment", code: .credentials,
            fix: { lacks in "Export \(lacks) too, or unset the other to use an ~/.aws profile." })
    }

    /// The static keys of one profile section; nil when it has neither key.
    func fromProfile(_ keys: [String: String], profile: String, file: String) throws -> AWSCredentials? {
        try Self.keyPair(
            id: ("aws_access_key_id", Self.nonEmpty(keys["aws_access_key_id"])),
            secret: ("aws_secret_access_key", Self.nonEmpty(keys["aws_secret_access_key"])),
            token: Self.nonEmpty(keys["aws_session_token"]) ?? Self.nonEmpty(keys["aws_security_token"]),
            source: "profile \(profile) in \(file)", place: "AWS profile \"\(profile)\" in \(file)", code: .credentials,
            fix: { lacks in "Add `\(lacks) = …` to that profile, e.g. with `aws configure --profile \(profile)`." })
    }

    /// A key id and its secret come together or not at all: both give credentials, neither
    /// gives nil, and half a pair is an error saying which half `place` lacks (never its value).
    static func keyPair(id: (name: String, value: String?), secret: (name: String, value: String?), token: String?,
                        source: String, place: String, code: CloudcError.Code,
                        fix: (_ lacks: String) -> String) throws -> AWSCredentials? {
        switch (id.value, secret.value) {
        case let (keyID?, secretValue?):
            return AWSCredentials(accessKeyID: keyID, secretAccessKey: Secret(secretValue),
                                  sessionToken: token.map(Secret.init), source: source)
        case (nil, nil):
            return nil
        default:
            let (has, lacks) = id.value == nil ? (secret.name, id.name) : (id.name, secret.name)
            throw CloudcError(code, "\(place) has \(has) but no \(lacks).", fix: fix(lacks))
        }
    }

    /// What a shared file said about a profile, for the no-credentials message.
    static func state(of file: AWSSharedFile?, section: [String: String]?, header: String) -> String {
        guard file != nil else { return "no such file" }
        guard section != nil else { return "no \(header) section" }
        return "\(header) has no aws_access_key_id"
    }

    func variable(_ name: String) -> String? {
        Self.nonEmpty(environment[name])
    }

    static func nonEmpty(_ value: String?) -> String? {
        guard let trimmed = value?.trimmingCharacters(in: .whitespaces), !trimmed.isEmpty else { return nil }
        return trimmed
    }

    func expandingTilde(_ path: String) -> String { HomePath.expand(path, home: homeDirectory) }

    /// `path` with the home directory shown as `~`, for messages.
    func display(_ path: String) -> String {
        let home = homeDirectory.hasSuffix("/") ? String(homeDirectory.dropLast()) : homeDirectory
        guard !home.isEmpty, path.hasPrefix(home + "/") else { return path }
        return "~" + path.dropFirst(home.count)
    }
}
