import CloudcCore

/// A loaded, validated config: every section by name, and the cluster templates in file order.
public struct CloudcConfig: Sendable, Equatable {
    /// The file it came from, as error messages name it.
    public var path: String
    public var clouds: [String: CloudSpec]
    public var logins: [String: LoginSpec]
    public var setups: [String: SetupSpec]
    public var clusters: [String: ClusterTemplate]
    /// The names of `clusters:`, in file order.
    public var templateNames: [String]

    /// The image a provider-local cluster boots when its template names none.
    static let localImage = "debian-12"

    public init(path: String, clouds: [String: CloudSpec] = [:], logins: [String: LoginSpec] = [:],
                setups: [String: SetupSpec] = [:], clusters: [String: ClusterTemplate] = [:],
                templateNames: [String] = []) {
        self.path = path; self.clouds = clouds; self.logins = logins; self.setups = setups
        self.clusters = clusters; self.templateNames = templateNames
    }

    /// Resolves a template's references into a `ClusterSpec`.
    ///
    /// Throws `CloudcError(.notFound)`, with the closest template name, if there is no such
    /// template. Loading checked every reference already; this fails with `.config` only for a
    /// config changed after loading.
    public func clusterSpec(template name: String) throws -> ClusterSpec {
        guard let template = clusters[name] else {
            let names = templateNames.isEmpty ? clusters.keys.sorted() : templateNames
            let what = "no cluster template named '\(name)' in \(path)"
            if let suggestion = Suggestions.closest(to: name, in: names) {
                throw CloudcError(.notFound, "\(what); did you mean '\(suggestion)'?",
                                  fix: "use '\(suggestion)', or add '\(name)' under 'clusters:'")
            }
            throw CloudcError(.notFound, what,
                              fix: names.isEmpty ? "add a template under 'clusters:' (config.example.yaml shows how)"
                                                 : "use one of: \(Suggestions.list(names)), or add '\(name)' under 'clusters:'")
        }
        let cloud = try resolve(template.cloud, in: clouds, section: "clouds", template: name, key: "cloud")
        let login: LoginSpec
        if template.login.isEmpty, case .ssh(let settings) = cloud.settings {
            login = Self.ownMachinesLogin(settings)
        } else {
            login = try resolve(template.login, in: logins, section: "logins", template: name, key: "login")
        }
        let setup = try template.setup.map { try resolve($0, in: setups, section: "setups", template: name, key: "setup") }
        guard let image = template.image ?? (cloud.provider == .local ? Self.localImage : cloud.provider == .ssh ? Self.ownImage : nil) else {
            throw CloudcError(.config, "\(path): clusters.\(name).image: missing",
                              fix: "add 'image:' to the template; provider \(cloud.provider.rawValue) needs one")
        }
        return ClusterSpec(template: name, cloud: cloud, login: login, setup: setup, image: image,
                           sshFrom: template.sshFrom, groups: template.groups, executor: template.executor,
                           sharedHome: template.sharedHome, autostop: template.autostop)
    }

    /// The image of an own machines cluster: whatever the machines run.
    static let ownImage = "own"

    /// An own machines cluster's login: the cloud's user and key, else each machine's from the
    /// ssh config (recorded per node when it joins, `NodeLogin`).
    static func ownMachinesLogin(_ settings: OwnMachinesSettings) -> LoginSpec {
        let key = settings.key ?? "~/.ssh/id_ed25519"
        return LoginSpec(name: "", user: settings.user ?? "", privateKey: key, publicKey: key + ".pub")
    }

    private func resolve<Value>(_ reference: String, in section: [String: Value], section sectionName: String,
                                template: String, key: String) throws -> Value {
        guard let value = section[reference] else {
            throw CloudcError(.config, "\(path): clusters.\(template).\(key): no entry '\(reference)' under '\(sectionName):'",
                              fix: "define '\(reference)' under '\(sectionName):' or change the template's \(key)")
        }
        return value
    }
}
