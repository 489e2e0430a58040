import CloudcCore
import Foundation
import Planner
import Testing

let cloud = CloudSpec(name: "aws", provider: .ec2, settings: .ec2(EC2Settings(region: "us-east-1")))
let login = LoginSpec(name: "default", user: "debian", privateKey: "/k", publicKey: "/k.pub")

func spec(frontend: Int = 1, compute: Int = 2, computeMin: Int = 0) -> ClusterSpec {
    ClusterSpec(template: "demo", cloud: cloud, login: login, image: "ami-1", sshFrom: "10.0.0.0/8", groups: [
        NodeGroupSpec(name: "frontend", count: frontend, flavor: "t3.medium"),
        NodeGroupSpec(name: "compute", count: compute, min: computeMin, flavor: "c5.xlarge"),
    ])
}

func freshState(_ spec: ClusterSpec, incarnation: String = "aaaaaaaaaaaa") -> ClusterState {
    ClusterState(name: "demo", incarnation: incarnation, spec: spec, now: Date(timeIntervalSince1970: 0))
}

func instance(_ id: String, node: String? = nil, group: String? = nil, token: String? = nil,
              incarnation: String = "aaaaaaaaaaaa", state: InstanceState = .running, index: Int? = nil) -> CloudInstance {
    CloudInstance(id: id, node: node, group: group, launchToken: token, incarnation: incarnation, state: state,
                  privateIP: "10.0.0.1", launchIndex: index)
}

@Suite struct NamesAndTokens {
    @Test func nodeNamesArePaddedToThreeDigits() {
        #expect(Planner.nodeName(group: "compute", index: 1) == "compute001")
        #expect(Planner.nodeName(group: "gpu", index: 1234) == "gpu1234")
        #expect(Planner.nodeIndex("compute012", group: "compute") == 12)
        #expect(Planner.nodeIndex("computex", group: "compute") == nil)
    }

    @Test func tokensAreDeterministicAndDifferPerIncarnationAndAttempt() {
        let a = Planner.launchToken(incarnation: "inc1", group: "compute", nodes: ["compute002", "compute001"], attempt: 0)
        let b = Planner.launchToken(incarnation: "inc1", group: "compute", nodes: ["compute001", "compute002"], attempt: 0)
        #expect(a == b, "node order must not matter")
        #expect(a != Planner.launchToken(incarnation: "inc2", group: "compute", nodes: ["compute001", "compute002"], attempt: 0),
                "a new start of the same name must not reuse the old token")
        #expect(a != Planner.launchToken(incarnation: "inc1", group: "compute", nodes: ["compute001", "compute002"], attempt: 1))
        let long = Planner.launchToken(incarnation: "abcdefabcdef", group: String(repeating: "g", count: 20),
                                       nodes: ["x"], attempt: 99)
        #expect(long.count <= 64 && long.allSatisfy(\.isASCII), "EC2 ClientToken is at most 64 ASCII characters")
    }
}

@Suite struct StartPlanning {
    @Test func freshClusterLaunchesOneBatchPerGroup() {
        let s = spec()
        let plan = Planner.planStart(spec: s, state: freshState(s), observed: [])
        #expect(plan.launches.map(\.group) == ["frontend", "compute"])
        #expect(plan.launches[1].nodes == ["compute001", "compute002"])
        #expect(plan.launches.allSatisfy { !$0.isResume })
        #expect(plan.adoptions.isEmpty && plan.strays.isEmpty)
    }

    @Test func recordedLaunchWithNoInstancesIsRepeatedWithItsToken() {
        let s = spec(frontend: 1, compute: 0)
        var state = freshState(s)
        state.launches = [LaunchRecord(token: "tok-1", group: "frontend", nodes: ["frontend001"], requestedAt: Date())]
        state.nodes = [NodeRecord(name: "frontend001", group: "frontend", state: .requested, flavor: "t3.medium")]
        let plan = Planner.planStart(spec: s, state: state, observed: [])
        #expect(plan.launches == [Planner.LaunchPlan(group: "frontend", nodes: ["frontend001"], token: "tok-1", isResume: true)])
    }

    @Test func instancesTaggedWithTheirNodeAreAdoptedNotRelaunched() {
        let s = spec()
        var state = freshState(s)
        state.launches = [LaunchRecord(token: "tok-c", group: "compute", nodes: ["compute001", "compute002"], requestedAt: Date())]
        state.nodes = [NodeRecord(name: "compute001", group: "compute", state: .requested, flavor: "c5.xlarge"),
                       NodeRecord(name: "compute002", group: "compute", state: .requested, flavor: "c5.xlarge")]
        let observed = [instance("i-1", node: "compute001", group: "compute", token: "tok-c"),
                        instance("i-2", node: "compute002", group: "compute", token: "tok-c")]
        let plan = Planner.planStart(spec: s, state: state, observed: observed)
        #expect(plan.adoptions.map(\.node) == ["compute001", "compute002"])
        #expect(plan.adoptions.allSatisfy { !$0.needsTag })
        #expect(plan.launches.map(\.group) == ["frontend"], "only the frontend still needs a launch")
    }

    @Test func untaggedInstancesOfARecordedLaunchAreAssignedInLaunchOrder() {
        let s = spec(frontend: 0, compute: 2)
        var state = freshState(s)
        state.launches = [LaunchRecord(token: "tok-c", group: "compute", nodes: ["compute001", "compute002"], requestedAt: Date())]
        let observed = [instance("i-b", token: "tok-c", index: 1), instance("i-a", token: "tok-c", index: 0)]
        let plan = Planner.planStart(spec: s, state: state, observed: observed)
        #expect(plan.adoptions.map { "\($0.node)=\($0.instance.id)" } == ["compute001=i-a", "compute002=i-b"])
        #expect(plan.adoptions.allSatisfy { $0.needsTag })
        #expect(plan.launches.isEmpty)
    }

    @Test func duplicateInstancesForOneNodeAreStrays() {
        let s = spec(frontend: 1, compute: 0)
        var state = freshState(s)
        state.nodes = [NodeRecord(name: "frontend001", group: "frontend", instanceID: "i-2", state: .running, flavor: "t3.medium")]
        let observed = [instance("i-1", node: "frontend001", group: "frontend"), instance("i-2", node: "frontend001", group: "frontend")]
        let plan = Planner.planStart(spec: s, state: state, observed: observed)
        #expect(plan.strays.map(\.id) == ["i-1"], "the instance the state records wins")
        #expect(plan.launches.isEmpty)
    }

    @Test func otherIncarnationsAndTerminatedInstancesAreIgnored() {
        let s = spec(frontend: 1, compute: 0)
        let observed = [instance("i-old", node: "frontend001", group: "frontend", incarnation: "bbbbbbbbbbbb"),
                        instance("i-dead", node: "frontend001", group: "frontend", state: .terminated)]
        let plan = Planner.planStart(spec: s, state: freshState(s), observed: observed)
        #expect(plan.adoptions.isEmpty)
        #expect(plan.strays.isEmpty)
        #expect(plan.launches.map(\.nodes) == [["frontend001"]])
    }

    @Test func nodeWhoseInstanceVanishedIsRelaunchedWithANewToken() {
        let s = spec(frontend: 1, compute: 0)
        var state = freshState(s)
        let first = Planner.launchToken(incarnation: state.incarnation, group: "frontend", nodes: ["frontend001"], attempt: 0)
        state.launches = [LaunchRecord(token: first, group: "frontend", nodes: ["frontend001"], status: .launched, requestedAt: Date())]
        state.nodes = [NodeRecord(name: "frontend001", group: "frontend", instanceID: "i-1", state: .running, flavor: "t3.medium")]
        let plan = Planner.planStart(spec: s, state: state, observed: [instance("i-1", node: "frontend001", state: .terminated)])
        #expect(plan.lost == ["frontend001"])
        #expect(plan.launches.count == 1)
        #expect(plan.launches[0].token != first)
        #expect(!plan.launches[0].isResume)
    }

    @Test func anInstanceInErrorIsAStrayAndItsNodeIsLaunchedAnew() {
        let s = spec(frontend: 1, compute: 0)
        var state = freshState(s)
        let first = Planner.launchToken(incarnation: state.incarnation, group: "frontend", nodes: ["frontend001"], attempt: 0)
        state.launches = [LaunchRecord(token: first, group: "frontend", nodes: ["frontend001"], status: .launched, requestedAt: Date())]
        state.nodes = [NodeRecord(name: "frontend001", group: "frontend", instanceID: "i-1", state: .error, flavor: "t3.medium")]
        let plan = Planner.planStart(spec: s, state: state, observed: [instance("i-1", node: "frontend001", state: .error)])
        #expect(plan.strays.map(\.id) == ["i-1"])
        #expect(plan.adoptions.isEmpty)
        #expect(plan.lost == ["frontend001"])
        #expect(plan.launches.map(\.nodes) == [["frontend001"]])
        #expect(plan.launches[0].token != first)
    }

    @Test func runningClusterNeedsNothing() {
        let s = spec(frontend: 1, compute: 1)
        var state = freshState(s)
        state.nodes = [NodeRecord(name: "frontend001", group: "frontend", instanceID: "i-1", state: .running, flavor: "t3.medium"),
                       NodeRecord(name: "compute001", group: "compute", instanceID: "i-2", state: .running, flavor: "c5.xlarge")]
        let observed = [instance("i-1", node: "frontend001"), instance("i-2", node: "compute001")]
        #expect(Planner.planStart(spec: s, state: state, observed: observed) == Planner.StartPlan())
    }
}

@Suite struct StopAndResizePlanning {
    @Test func stopTerminatesEverythingOfThisIncarnationAndDeletesResourcesInReverse() {
        let s = spec()
        var state = freshState(s)
        state.resources = [ResourceRecord(kind: .keyPair, name: "k", status: .created),
                           ResourceRecord(kind: .securityGroup, name: "sg", id: "sg-1", status: .created)]
        state.nodes = [NodeRecord(name: "frontend001", group: "frontend", instanceID: "i-recorded-only", state: .running, flavor: "t3.medium")]
        let observed = [instance("i-tagged", node: "compute001"),
                        instance("i-gone", state: .terminated),
                        instance("i-foreign", incarnation: "cccccccccccc")]
        let plan = Planner.planStop(state: state, observed: observed)
        #expect(plan.terminate == ["i-recorded-only", "i-tagged"])
        #expect(plan.deleteResources.map(\.name) == ["sg", "k"])
        #expect(plan.foreign.map(\.id) == ["i-foreign"])
    }

    @Test func growingContinuesNumbering() throws {
        let s = spec(compute: 2)
        var state = freshState(s)
        state.nodes = [NodeRecord(name: "compute001", group: "compute", state: .running, flavor: "c"),
                       NodeRecord(name: "compute003", group: "compute", state: .running, flavor: "c")]
        let plan = try Planner.planResize(spec: s, state: state, group: "compute", delta: 2)
        #expect(plan.add == ["compute004", "compute005"])
        #expect(plan.newCount == 4)
    }

    @Test func shrinkingRemovesHighestFirstAndRespectsMin() throws {
        let s = spec(compute: 3, computeMin: 1)
        var state = freshState(s)
        state.nodes = (1...3).map { NodeRecord(name: Planner.nodeName(group: "compute", index: $0), group: "compute", state: .running, flavor: "c") }
        let plan = try Planner.planResize(spec: s, state: state, group: "compute", delta: -2)
        #expect(plan.remove.map(\.name) == ["compute003", "compute002"])
        #expect(throws: CloudcError.self) { try Planner.planResize(spec: s, state: state, group: "compute", delta: -3) }
        #expect(throws: CloudcError.self) { try Planner.planResize(spec: s, state: state, group: "gpu", delta: 1) }
    }
}
