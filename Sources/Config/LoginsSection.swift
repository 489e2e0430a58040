import CloudcCore

/// `logins:`: how to log into an image (user and key pair).
enum LoginsSection {
    static let keys = ["user", "private_key", "public_key"]

    /// The logins, in file order.
    static func parse(_ value: ConfigValue?) throws -> [LoginSpec] {
        guard let value else { return [] }
        return try value.mapping().entries.map { try login(named: $0.key, $0.value) }
    }

    static func login(named name: String, _ value: ConfigValue) throws -> LoginSpec {
        let map = try value.mapping()
        try map.rejectUnknownKeys(allowed: keys)
        let user = try map.requiredString("user", "the image's login user", example: "debian")
        guard ConfigValueCheck.isLoginUser(user) else {
            throw (map["user"] ?? map.value).error("login user \(String(reflecting: user)) is not a user name ssh takes",
                                                 fix: "use letters, digits, '_', '-', '.' and '@', not starting with '-' (e.g. user: debian)")
        }
        let privateKey = try map.requiredPath("private_key", "the SSH key cloudc logs in with", example: "~/.ssh/id_ed25519")
        let publicKey = try map.path("public_key") ?? privateKey + ".pub"
        return LoginSpec(name: name, user: user, privateKey: privateKey, publicKey: publicKey)
    }
}
