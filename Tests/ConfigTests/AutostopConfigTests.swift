import CloudcCore
import Foundation
import Testing
@testable import Config

/// `autostop:` on a template and the idle times `--autostop` and `cloudc autostop` take.
@Suite struct AutostopConfigTests {
    @Test func idleTimesAreMinutesOrHoursOrOff() throws {
        #expect(try Autostop.minutes("30m") == 30)
        #expect(try Autostop.minutes("2h") == 120)
        #expect(try Autostop.minutes("1h30m") == 90)
        #expect(try Autostop.minutes(" 1M ") == 1)
        #expect(try Autostop.minutes("off") == nil)
        #expect(try Autostop.minutes("0") == nil)
        for wrong in ["30", "m", "1.5h", "-5m", "30s", "8d", "200h", ""] {
            #expect(throws: CloudcError.self, "\(wrong)") { try Autostop.minutes(wrong) }
        }
        #expect(Autostop.text(90) == "1h30m" && Autostop.text(120) == "2h" && Autostop.text(45) == "45m")
    }

    static func config(_ autostop: String, provider: String = "provider: local") -> String {
        Fixtures.lines(
            "clouds:",
            "  here: {\(provider)}",
            "logins:",
            "  default: {user: root, private_key: ~/.ssh/id_ed25519}",
            "clusters:",
            "  lab:",
            "    cloud: here",
            "    shared_home: true",
            "    autostop: \(autostop)",
            "    groups: {frontend: {count: 1}}")
    }

    @Test func aTemplatesAutostopReachesTheSpec() throws {
        #expect(try Fixtures.parse(Self.config("45m")).clusterSpec(template: "lab").autostop == 45)
        #expect(try Fixtures.parse(Self.config("off")).clusterSpec(template: "lab").autostop == nil)
    }

    @Test func aWrongIdleTimeOrOwnMachinesAreRefusedAtTheLine() throws {
        let wrong = try #require(Fixtures.error(Self.config("soon")))
        #expect(wrong.message.contains(Fixtures.path + ":") && wrong.message.contains("'soon' is not an idle time for autostop"), "\(wrong.message)")
        #expect(wrong.fix?.contains("30m, 2h or 1h30m") == true)
        let own = try #require(Fixtures.error(Self.config("1h", provider: "provider: ssh, hosts: [gpu1]")))
        #expect(own.message.contains("which cloudc never powers off"), "\(own.message)")
    }
}
