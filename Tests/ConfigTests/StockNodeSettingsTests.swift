import CloudcCore
import Foundation
import Testing
@testable import Config

/// The settings for nodes that boot like stock cloud VMs: a shared /home the cloud provides, and
/// the package cache local nodes install through.
@Suite struct StockNodeSettingsTests {
    @Test func sharedHomeIsCarriedToTheSpecAndDefaultsToNone() throws {
        let config = try Fixtures.parse(Fixtures.preamble + Fixtures.lines(
            "clusters:",
            "  filestore: {cloud: gce, image: debian-12, shared_home: true, groups: {compute: {count: 1, flavor: f}}}",
            "  plain: {cloud: gce, image: debian-12, groups: {compute: {count: 1, flavor: f}}}"))
        #expect(try config.clusterSpec(template: "filestore").sharedHome == true)
        #expect(try config.clusterSpec(template: "plain").sharedHome == nil)
        let error = try #require(Fixtures.error(Fixtures.preamble + Fixtures.lines(
            "clusters:",
            "  bad: {cloud: gce, image: debian-12, shared_home: sometimes, groups: {compute: {count: 1, flavor: f}}}")))
        #expect(error.message.contains("clusters.bad.shared_home"), "\(error.message)")
    }

    @Test func aLocalCloudNamesThePortOfItsPackageCache() throws {
        let config = try Fixtures.parse(Fixtures.lines(
            "clouds:",
            "  here: {provider: local, package_cache_port: 3142}"))
        guard case .local(let settings) = config.clouds["here"]?.settings else {
            Issue.record("not local")
            return
        }
        #expect(settings.packageCachePort == 3142)
        let error = try #require(Fixtures.error(Fixtures.lines(
            "clouds:",
            "  here: {provider: local, package_cache_port: 70000}")))
        #expect(error.message == "\(Fixtures.path):2:47: clouds.here.package_cache_port: package_cache_port 70000 is not a TCP port",
                "\(error.message)")
        #expect(error.fix?.contains("3142") == true)
    }
}
