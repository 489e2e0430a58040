import CloudcCore
import Foundation
import Testing
@testable import Config

/// Which nodes get a public address (`public_ip:`) and how this machine reaches the frontend
/// (`reach:`), and the one combination that would leave no node reachable.
@Suite struct ReachTests {
    static let privateCloud = """
        clouds:
          vpc: {provider: ec2, region: eu-west-1, reach: private}
          net: {provider: gce, zone: us-central1-a}
          uni: {provider: openstack, auth_url: "https://keystone.example.org/v3"}
          fip: {provider: openstack, auth_url: "https://keystone.example.org/v3", floating_ip_network: public}
        logins:
          default: {user: debian, private_key: ~/.ssh/id_ed25519}

        """

    @Test func onlyTheFrontendHasAPublicAddressUnlessAGroupAsks() throws {
        let config = try Fixtures.parse(Self.privateCloud + Fixtures.lines(
            "clusters:",
            "  lab:",
            "    cloud: net",
            "    image: debian-12",
            "    groups: {frontend: {count: 1, flavor: f}, compute: {count: 2, flavor: f}, fetch: {count: 1, flavor: f, public_ip: true}}",
            "  headless: {cloud: net, image: debian-12, groups: {login: {count: 1, flavor: f}, compute: {count: 2, flavor: f}}}"))
        let lab = try config.clusterSpec(template: "lab")
        #expect(lab.groups.map { lab.hasPublicAddress($0) } == [true, false, true])
        #expect(lab.reach == .publicAddress)
        // Without a group called frontend, the first group is where users log in.
        let headless = try config.clusterSpec(template: "headless")
        #expect(headless.groups.map { headless.hasPublicAddress($0) } == [true, false])
    }

    @Test func reachIsTheClouds() throws {
        let config = try Fixtures.parse(Self.privateCloud + Fixtures.lines(
            "clusters:",
            "  a: {cloud: vpc, image: ami-1, groups: {frontend: {count: 1, flavor: f, public_ip: false}}}",
            "  b: {cloud: uni, image: debian-12, groups: {frontend: {count: 1, flavor: f}}}",
            "  c: {cloud: fip, image: debian-12, groups: {frontend: {count: 1, flavor: f}}}"))
        #expect(try config.clusterSpec(template: "a").reach == .privateNetwork)
        #expect(try config.clusterSpec(template: "a").groups[0].publicIP == false)
        // An OpenStack cloud without floating IPs is reached at its fixed addresses.
        #expect(try config.clusterSpec(template: "b").reach == .privateNetwork)
        #expect(try config.clusterSpec(template: "c").reach == .publicAddress)

        let typo = try #require(Fixtures.error(Fixtures.lines(
            "clouds:",
            "  vpc: {provider: ec2, reach: privat}")))
        #expect(typo.message.contains("clouds.vpc.reach: unknown reach 'privat'; did you mean 'private'?"), "\(typo.message)")
        #expect(typo.fix?.contains("VPN") == true)
        let local = try #require(Fixtures.error(Fixtures.lines(
            "clouds:",
            "  here: {provider: local, reach: private}")))
        #expect(local.message.contains("reach"), "\(local.message)")
    }

    /// Refused when the config is read, before anything is created.
    @Test func aFrontendWithoutAPublicAddressOnACloudReachedOverTheInternetIsRefusedWithAFix() throws {
        let error = try #require(Fixtures.error(Self.privateCloud + Fixtures.lines(
            "clusters:",
            "  lab:",
            "    cloud: net",
            "    image: debian-12",
            "    groups:",
            "      frontend: {count: 1, flavor: f, public_ip: false}",
            "      compute: {count: 2, flavor: f, public_ip: true}")))
        #expect(error.message.contains(":13:50: clusters.lab.groups.frontend.public_ip:"), "\(error.message)")
        #expect(error.message.contains("no node could be reached"), "\(error.message)")
        #expect(error.fix?.contains("reach: private") == true && error.fix?.contains("remove 'public_ip: false'") == true)

        let local = try #require(Fixtures.error(Fixtures.lines(
            "clouds:",
            "  here: {provider: local}",
            "logins:",
            "  default: {user: root, private_key: ~/.ssh/id_ed25519}",
            "clusters:",
            "  lab: {cloud: here, groups: {frontend: {count: 1, public_ip: true}}}")))
        #expect(local.message.contains("public_ip is for clouds"), "\(local.message)")
    }
}
