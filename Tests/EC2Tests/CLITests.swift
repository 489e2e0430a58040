import CLITestSupport
import CloudcCore
import Foundation
import State
import Testing
import TestSupport

/// Commands that need no cloud: names, `use`, the lock, config errors.
@Suite(.needsPeer) struct CLITests {
    func seed(_ user: UserMachine, _ names: [String]) throws {
        let store = StateStore(home: user.home.path + "/.cloudc")
        let cloud = CloudSpec(name: "aws", provider: .ec2, endpoint: "http://127.0.0.1:9", settings: .ec2(EC2Settings(region: "us-east-1")))
        let spec = ClusterSpec(template: "aws-demo", cloud: cloud, login: LoginSpec(name: "default", user: "u", privateKey: "/k", publicKey: "/k.pub"),
                               image: "ami-1", groups: [NodeGroupSpec(name: "frontend", count: 1, flavor: "t3.medium")])
        for name in names {
            var state = ClusterState(name: name, incarnation: "abcdefabcdef", spec: spec, now: Date())
            state.phase = .running
            state.nodes = [NodeRecord(name: "frontend001", group: "frontend", instanceID: "i-\(name)", privateIP: "10.0.0.1", state: .running, flavor: "t3.medium")]
            try store.save(state)
        }
    }

    @Test func nameMayBeLeftOutOnlyWhenItIsClear() async throws {
        let user = try UserMachine(moto: nil, config: ec2Config())
        try seed(user, ["alpha", "beta"])
        let ambiguous = await user.cloudc("list-nodes")
        #expect(ambiguous.status == 2)
        #expect(ambiguous.stderr.contains("alpha, beta"))
        #expect(ambiguous.stderr.contains("cloudc use NAME"))

        #expect(await user.cloudc("use", "beta").status == 0)
        let chosen = await user.cloudc("list-nodes")
        #expect(chosen.status == 0)
        #expect(chosen.stdout.contains("i-beta"))
        let list = await user.cloudc("list")
        #expect(list.stdout.contains("beta*"))

        let unknown = await user.cloudc("use", "gamma")
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains("no cluster named 'gamma'"))
    }

    @Test func secondCloudcOnALockedClusterSaysWhoHoldsItAndExits() async throws {
        let user = try UserMachine(moto: nil, config: ec2Config(), extraEnvironment: ["AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "x"])
        try seed(user, ["alpha"])
        let lockFile = user.home.path + "/.cloudc/clusters/alpha.lock"
        let script = "import fcntl, sys, time\nf = open(sys.argv[1], 'a')\nfcntl.flock(f, fcntl.LOCK_EX)\nprint('locked', flush=True)\ntime.sleep(60)\n"
        let holder = try Daemon("/usr/bin/env", ["python3", "-c", script, lockFile], environment: ProcessInfo.processInfo.environment,
                                logPath: user.home.path + "/holder.log")
        defer { holder.stop() }
        try await waitUntil("the other process to hold the lock", seconds: 10) { holder.log.contains("locked") }
        let stop = await user.cloudc("stop", "alpha")
        #expect(stop.status == 1)
        #expect(stop.stderr.contains("in use by another cloudc process (pid \(holder.pid)"), "\(stop.stderr)")
        #expect(user.stateFiles() == ["alpha.json"], "the state is untouched")
    }

    @Test func configErrorsPointAtFileLineAndColumn() async throws {
        let user = try UserMachine(moto: nil, config: ec2Config().replacingOccurrences(of: "count: 1, flavor", with: "cont: 1, flavor"))
        let result = await user.cloudc("start", "aws-demo")
        #expect(result.status == 1)
        #expect(result.stderr.contains(user.home.path + "/.cloudc/config.yaml:"))
        #expect(result.stderr.contains("clusters.aws-demo.groups.frontend.cont"))
        #expect(result.stderr.contains("did you mean 'count'"))
        #expect(user.stateFiles().isEmpty)
    }

    @Test func unknownTemplateSuggestsTheClosest() async throws {
        let user = try UserMachine(moto: nil, config: ec2Config())
        let result = await user.cloudc("start", "aws-dem")
        #expect(result.status != 0)
        #expect(result.stderr.contains("no cluster template named 'aws-dem'"))
        #expect(result.stderr.contains("did you mean 'aws-demo'?"))
    }
}
