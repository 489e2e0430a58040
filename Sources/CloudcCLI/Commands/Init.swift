import ArgumentParser
import CloudcCore
import Config
import Foundation
import Providers

struct Init: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a commented starter config for the clouds you name (local, gce, aws, openstack).",
        discussion: """
        cloudc init gce aws
        writes $CLOUDC_HOME/config.yaml (or -c PATH) with a cloud, a login and a template for each,
        filled with what is already on this machine: your SSH key (one is made if you have none),
        gcloud's credentials, project and zone, your AWS profile and region, your clouds.yaml entry.
        An existing config is never overwritten. Without a config at all, `cloudc start local` uses
        a built-in template.
        """)

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The clouds: local, gce, aws (or ec2), openstack (default: local).")
    var clouds: [String] = []

    func run() async throws {
        let wiring = Wiring(global)
        let context = wiring.context
        let path = wiring.configPath
        guard !FileManager.default.fileExists(atPath: path) else {
            throw CloudcError(.usage, "\(path) exists already; cloudc init never overwrites a config",
                              fix: "edit it (config.example.yaml documents every key), or write another: cloudc init -c OTHER.yaml \(clouds.joined(separator: " "))")
        }
        var providers: [ProviderKind] = []
        for name in clouds.isEmpty ? ["local"] : clouds {
            guard let provider = StarterConfig.cloudNames[name.lowercased()] else {
                throw CloudcError(.usage, "unknown cloud '\(name)'", fix: "name some of: local, gce, aws, openstack")
            }
            if !providers.contains(provider) { providers.append(provider) }
        }
        let discovery = AccountDiscovery(environment: context.environment, homeDirectory: context.homeDirectory,
                                         workingDirectory: FileManager.default.currentDirectoryPath)
        let found = discovery.discover()
        let key = found.sshKey ?? LoginKey.ownPath(cloudcHome: context.cloudcHome)
        try await LoginKey.ensure(key, progress: wiring.progress)
        let text = StarterConfig.render(providers, found: found, privateKey: shown(key, home: context.homeDirectory))
        // What init writes must load: a starter that cloudc itself refuses is a bug, caught here.
        _ = try ConfigLoader.parse(yaml: text, path: path, environment: context.environment, homeDirectory: context.homeDirectory)

        let folder = (path as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw CloudcError(.io, "cannot create the folder \(folder)", cause: "\(error)")
        }
        try AtomicFile.write(Data(text.utf8), to: path, mode: 0o600, what: "the config", replacing: false)

        let progress = wiring.progress
        progress.report("SSH key: \(key)")
        for provider in providers {
            switch provider {
            case .gce: progress.report("gce: " + (found.gce.map { "credentials from \($0.source)" + ($0.project.map { ", project \($0)" } ?? ", no project found (TODO in the file)") }
                                                     ?? "no credentials found: run gcloud auth application-default login"))
            case .ec2: progress.report("aws: " + (found.aws.map { "credentials from \($0.source)" + ($0.region.map { ", region \($0)" } ?? "") }
                                                     ?? "no credentials found: run aws configure"))
            case .openstack: progress.report("openstack: " + (found.openstack.map { "credentials from \($0.source)" + ($0.cloud.map { ", cloud \($0)" } ?? "") }
                                                                 ?? "no clouds.yaml or OS_* variables found"))
            case .local, .ssh: break
            }
        }
        context.print(path)
        let names = providers.map { $0 == .ec2 ? "aws" : $0.rawValue }
        context.note("Wrote \(path) with template(s) \(names.joined(separator: ", ")); look for TODO in it, then: cloudc start \(names[0])")
    }

    /// `~/…` for a path in the home folder, as a user would write it.
    func shown(_ path: String, home: String) -> String {
        path.hasPrefix(home + "/") ? "~" + path.dropFirst(home.count) : path
    }
}
