import Foundation
import Testing
import TestSupport

/// The peer's Compute v1 API: Google's schemas (from the discovery document), Google's rules,
/// Google's operations and errors.
@Suite(.serialized, .timeLimit(.minutes(2)), .needsPeer)
struct ComputeTests {
    @Test func theDiscoveryDocumentIsWhatTheRoutesAndSchemasComeFrom() async throws {
        try await GCEPeer.with { peer in
            let token = try await peer.accessToken()
            // The revision the peer loaded is the fetched document's.
            let document = try Data(contentsOf: URL(fileURLWithPath: Paths.repoRoot + "/.peers/compute.v1.json"))
            let revision = try #require((try JSONSerialization.jsonObject(with: document) as? [String: Any])?["revision"] as? String)
            #expect(try await peer.state().discoveryRevision == revision)

            // Fields the peer's own code never names are accepted because the document has them…
            var body = instanceBody("documented")
            body["keyRevocationActionType"] = "NONE"
            body["networkPerformanceConfig"] = ["totalEgressBandwidthTier": "DEFAULT"]
            body["shieldedInstanceConfig"] = ["enableSecureBoot": true, "enableVtpm": true]
            _ = try await peer.insert(body, token: token)
            // …and their enums are the document's.
            body["name"] = "undocumented"
            body["keyRevocationActionType"] = "SOMETIMES"
            let refused = try await peer.compute("POST", "zones/us-central1-a/instances", json: body, token: token)
            #expect(refused.status == 400)
            #expect(refused.errorMessage?.contains("instance_resource.key_revocation_action_type") == true, "\(refused.text)")

            // A method the document has and the peer does not model is routed, and says so.
            let start = try await peer.compute("POST", "zones/us-central1-a/instances/documented/start", token: token)
            #expect(start.status == 501)
            #expect(start.errorMessage?.contains("compute.instances.start") == true)
            // A path the document does not have is not found.
            #expect(try await peer.compute("GET", "zones/us-central1-a/widgets", token: token).status == 404)
        }
    }

    @Test func anUnknownFieldIsRejectedInGooglesShapeNamingItsPath() async throws {
        try await GCEPeer.with { peer in
            let token = try await peer.accessToken()
            var body = instanceBody("unknown")
            body["machine_type"] = "zones/us-central1-a/machineTypes/e2-standard-4"
            let top = try await peer.compute("POST", "zones/us-central1-a/instances", json: body, token: token)
            #expect(top.status == 400)
            #expect(top.errorCode == 400)
            #expect(top.errorReason == "invalid")
            #expect(top.errorMessage == "Invalid JSON payload received. Unknown name \"machine_type\" at 'instance_resource': Cannot find field.")
            let errors = try #require((top.json?["error"] as? [String: Any])?["errors"] as? [[String: Any]])
            #expect(errors.first?["domain"] as? String == "global")

            body = instanceBody("nested")
            body["scheduling"] = ["onHostMaintenance": "TERMINATE", "preemptable": true]
            let nested = try await peer.compute("POST", "zones/us-central1-a/instances", json: body, token: token)
            #expect(nested.errorMessage == "Invalid JSON payload received. Unknown name \"preemptable\" at 'instance_resource.scheduling': Cannot find field.")

            body = instanceBody("typed")
            body["disks"] = [["boot": "yes", "initializeParams": ["sourceImage": "projects/debian-cloud/global/images/family/debian-12"]]]
            let typed = try await peer.compute("POST", "zones/us-central1-a/instances", json: body, token: token)
            #expect(typed.status == 400)
            #expect(typed.errorMessage?.contains("instance_resource.disks[0].boot' (TYPE_BOOL)") == true, "\(typed.text)")
            #expect(try await peer.state().instances.isEmpty)
        }
    }

    @Test func int64FieldsTakeStringsOrNumbers() async throws {
        try await GCEPeer.with { peer in
            let token = try await peer.accessToken()
            var body = instanceBody("sized")
            body["disks"] = [["boot": true, "autoDelete": true,
                              "initializeParams": ["sourceImage": "projects/debian-cloud/global/images/family/debian-12", "diskSizeGb": 30]]]
            _ = try await peer.insert(body, token: token)
            body["name"] = "not-a-number"
            body["disks"] = [["boot": true, "initializeParams": ["sourceImage": "projects/debian-cloud/global/images/family/debian-12", "diskSizeGb": "thirty"]]]
            let refused = try await peer.compute("POST", "zones/us-central1-a/instances", json: body, token: token)
            #expect(refused.errorMessage?.contains("(TYPE_INT64)") == true, "\(refused.text)")
        }
    }

    @Test func aGPUNeedsAnN1MachineAndNoLiveMigration() async throws {
        try await GCEPeer.with { peer in
            let token = try await peer.accessToken()
            var body = instanceBody("gpu", machineType: "n1-standard-8")
            body["guestAccelerators"] = [["acceleratorType": "zones/us-central1-a/acceleratorTypes/nvidia-tesla-t4", "acceleratorCount": 1]]
            let migrating = try await peer.compute("POST", "zones/us-central1-a/instances", json: body, token: token)
            #expect(migrating.status == 400)
            #expect(migrating.errorReason == "badRequest")
            #expect(migrating.errorMessage == "Instances with guest accelerators do not support live migration.")

            body["scheduling"] = ["onHostMaintenance": "TERMINATE", "automaticRestart": true]
            let operation = try await peer.insert(body, token: token)
            #expect(try await peer.waitDone(operation, token: token)["error"] == nil)
            let gpu = try #require(try await peer.state().instance("gpu"))
            #expect(gpu.guestAccelerators.first?.acceleratorType == "nvidia-tesla-t4")
            #expect(gpu.onHostMaintenance == "TERMINATE")

            var n2 = instanceBody("gpu-n2", machineType: "n2-standard-8")
            n2["guestAccelerators"] = body["guestAccelerators"]
            n2["scheduling"] = ["onHostMaintenance": "TERMINATE"]
            let incompatible = try await peer.compute("POST", "zones/us-central1-a/instances", json: n2, token: token)
            #expect(incompatible.errorMessage == "[nvidia-tesla-t4, n2-standard-8] features are not compatible for creating instance.")

            // A machine type with its GPU built in (A2) also cannot migrate.
            let a2 = try await peer.compute("POST", "zones/us-central1-a/instances",
                                            json: instanceBody("a2", machineType: "a2-highgpu-1g"), token: token)
            #expect(a2.errorMessage == "Instances with guest accelerators do not support live migration.")

            // A100s are not in every zone.
            var elsewhere = instanceBody("a100", zone: "europe-west1-b", machineType: "n1-standard-8")
            elsewhere["guestAccelerators"] = [["acceleratorType": "zones/europe-west1-b/acceleratorTypes/nvidia-tesla-a100", "acceleratorCount": 1]]
            elsewhere["scheduling"] = ["onHostMaintenance": "TERMINATE"]
            let missing = try await peer.compute("POST", "zones/europe-west1-b/instances", json: elsewhere, token: token)
            #expect(missing.status == 404)
            #expect(missing.errorReason == "notFound")
        }
    }

    @Test func spotIsAProvisioningModelThatNeitherMigratesNorRestarts() async throws {
        try await GCEPeer.with { peer in
            let token = try await peer.accessToken()
            var body = instanceBody("spot", machineType: "n1-standard-8")
            body["guestAccelerators"] = [["acceleratorType": "projects/\(peer.project)/zones/us-central1-a/acceleratorTypes/nvidia-tesla-t4", "acceleratorCount": 1]]
            body["scheduling"] = ["provisioningModel": "SPOT", "instanceTerminationAction": "DELETE"]
            _ = try await peer.insert(body, token: token)
            let spot = try #require(try await peer.state().instance("spot"))
            #expect(spot.provisioningModel == "SPOT")
            #expect(spot.onHostMaintenance == "TERMINATE")

            body["name"] = "spot-migrating"
            body["scheduling"] = ["provisioningModel": "SPOT", "onHostMaintenance": "MIGRATE"]
            let refused = try await peer.compute("POST", "zones/us-central1-a/instances", json: body, token: token)
            #expect(refused.errorMessage == "Invalid value for field 'resource.scheduling.preemptible': 'true'. Scheduling must have preemptible be false when OnHostMaintenance isn't TERMINATE.")
        }
    }

    @Test func namesLabelsMachineTypesAndImagesFollowGooglesRules() async throws {
        try await GCEPeer.with { peer in
            let token = try await peer.accessToken()
            var body = instanceBody("Node_1", labels: ["Cluster": "x", "ok": "Bad Value"])
            body["machineType"] = "zones/us-central1-a/machineTypes/e2-huge-99"
            body["disks"] = [["boot": true, "initializeParams": ["sourceImage": "projects/debian-cloud/global/images/family/debian-99"]]]
            let response = try await peer.compute("POST", "zones/us-central1-a/instances", json: body, token: token)
            #expect(response.status == 400)
            let errors = try #require((response.json?["error"] as? [String: Any])?["errors"] as? [[String: Any]])
            let messages = errors.compactMap { $0["message"] as? String }
            #expect(messages.contains("Invalid value for field 'resource.name': 'Node_1'. Must be a match of regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'"))
            #expect(messages.contains("Invalid value for field 'resource.machineType': 'zones/us-central1-a/machineTypes/e2-huge-99'. Machine type with name 'e2-huge-99' does not exist in zone 'us-central1-a'."))
            #expect(messages.contains("Invalid value for field 'resource.disks[0].initializeParams.sourceImage': 'projects/debian-cloud/global/images/family/debian-99'. The referenced image resource cannot be found."))
            #expect(messages.contains { $0.contains("Label key 'Cluster' violates format constraints") })
            #expect(messages.contains { $0.contains("Label value 'Bad Value' violates format constraints") })
            #expect(errors.allSatisfy { $0["reason"] as? String == "invalid" })

            body = instanceBody("noboot")
            body["disks"] = [["initializeParams": ["sourceImage": "projects/debian-cloud/global/images/family/debian-12"]]]
            let noBoot = try await peer.compute("POST", "zones/us-central1-a/instances", json: body, token: token)
            #expect(noBoot.status == 400)
            #expect(noBoot.errorMessage?.contains("Boot disk must be specified") == true)

            _ = try await peer.insert(instanceBody("twice"), token: token)
            let again = try await peer.compute("POST", "zones/us-central1-a/instances", json: instanceBody("twice"), token: token)
            #expect(again.status == 409)
            #expect(again.errorReason == "alreadyExists")
            #expect(again.errorMessage == "The resource 'projects/\(peer.project)/zones/us-central1-a/instances/twice' already exists")
        }
    }

    @Test func aRepeatedRequestIDReturnsTheFirstOperationAndCreatesNothing() async throws {
        try await GCEPeer.with { peer in
            let token = try await peer.accessToken()
            let requestID = UUID().uuidString.lowercased()
            let first = try await peer.insert(instanceBody("once"), requestID: requestID, token: token)
            let second = try await peer.insert(instanceBody("once"), requestID: requestID, token: token)
            #expect(first == second)
            var state = try await peer.state()
            #expect(state.instances.map(\.name) == ["once"])
            #expect(state.requestIDs[requestID]?.requests == 2)
            #expect(state.requestIDs[requestID]?.operationName == first)
            #expect(state.counts["instances_created"] == 1)

            // Still ignored after the instance is gone, as Google documents: a new incarnation needs a new id.
            _ = try await peer.waitDone(first, token: token)
            let delete = try await peer.compute("DELETE", "zones/us-central1-a/instances/once", token: token)
            let deleteOperation = try #require(delete.json?["name"] as? String)
            _ = try await peer.waitDone(deleteOperation, token: token)
            let third = try await peer.insert(instanceBody("once"), requestID: requestID, token: token)
            #expect(third == first)
            state = try await peer.state()
            #expect(state.instances.isEmpty)
            #expect(state.counts["instances_created"] == 1)

            let notUUID = try await peer.compute("POST", "zones/us-central1-a/instances?requestId=retry-1", json: instanceBody("x"), token: token)
            #expect(notUUID.status == 400)
            #expect(notUUID.errorMessage?.contains("The request ID must be a valid UUID") == true)
        }
    }

    @Test func aLostAnswerIsRetriedSafelyWithTheSameRequestID() async throws {
        try await GCEPeer.with { peer in
            let token = try await peer.accessToken()
            try await peer.inject(.dropResponse(count: 1, pathPrefix: peer.computePath("zones/us-central1-a/instances"), method: "POST"))
            let requestID = UUID().uuidString
            await #expect(throws: (any Error).self) {
                _ = try await peer.insert(instanceBody("lost"), requestID: requestID, token: token)
            }
            #expect(try await peer.state().instances.map(\.name) == ["lost"], "the dropped request was carried out")
            _ = try await peer.insert(instanceBody("lost"), requestID: requestID, token: token)
            let state = try await peer.state()
            #expect(state.instances.count == 1)
            #expect(state.requestIDs[requestID]?.requests == 2)
        }
    }

    @Test func anExhaustedZoneFailsTheOperationAndMakesNoInstance() async throws {
        try await GCEPeer.with { peer in
            let token = try await peer.accessToken()
            try await peer.inject(.capacity(zone: "us-central1-b"))
            let operation = try await peer.insert(instanceBody("full", zone: "us-central1-b"), zone: "us-central1-b", token: token)
            let done = try await peer.waitDone(operation, zone: "us-central1-b", token: token)
            let errors = try #require((done["error"] as? [String: Any])?["errors"] as? [[String: Any]])
            #expect(errors.first?["code"] as? String == "ZONE_RESOURCE_POOL_EXHAUSTED")
            #expect(errors.first?["message"] as? String == "The zone 'projects/\(peer.project)/zones/us-central1-b' does not have enough resources available to fulfill the request.  Try a different zone, or try again later.")
            #expect(done["httpErrorStatusCode"] as? Int == 503)
            #expect(try await peer.compute("GET", "zones/us-central1-b/instances/full", token: token).status == 404)

            // Another zone still has room.
            let elsewhere = try await peer.insert(instanceBody("full", zone: "us-central1-c"), zone: "us-central1-c", token: token)
            #expect(try await peer.waitDone(elsewhere, zone: "us-central1-c", token: token)["error"] == nil)
            let state = try await peer.state()
            #expect(state.instances.map(\.zone) == ["us-central1-c"])
            #expect(state.events.contains { $0.event == "instance.refused" && $0.code == "ZONE_RESOURCE_POOL_EXHAUSTED" })
        }
    }

    @Test func aSpentQuotaFailsTheOperationOrTheInsertItself() async throws {
        try await GCEPeer.with { peer in
            let token = try await peer.accessToken()
            try await peer.inject(.quota(zone: "us-east1-b", metric: "CPUS", limit: 8, count: 1))
            let operation = try await peer.insert(instanceBody("late", zone: "us-east1-b"), zone: "us-east1-b", token: token)
            let done = try await peer.waitDone(operation, zone: "us-east1-b", token: token)
            let error = try #require(((done["error"] as? [String: Any])?["errors"] as? [[String: Any]])?.first)
            #expect(error["code"] as? String == "QUOTA_EXCEEDED")
            #expect(error["message"] as? String == "Quota 'CPUS' exceeded.  Limit: 8.0 in region us-east1.")

            try await peer.inject(.quota(zone: "us-east1-b", metric: "IN_USE_ADDRESSES", limit: 4, count: 1, synchronous: true))
            let early = try await peer.compute("POST", "zones/us-east1-b/instances", json: instanceBody("early", zone: "us-east1-b"), token: token)
            #expect(early.status == 403)
            #expect(early.errorReason == "quotaExceeded")
            #expect(try await peer.state().instances.isEmpty)
        }
    }

    @Test func anAggregatedListGroupsInstancesByZoneAndFieldsSelectParts() async throws {
        try await GCEPeer.with { peer in
            let token = try await peer.accessToken()
            _ = try await peer.insert(instanceBody("here"), token: token)
            _ = try await peer.insert(instanceBody("there", zone: "us-east1-c"), zone: "us-east1-c", token: token)
            let response = try await peer.compute("GET", "aggregated/instances?filter=labels.cloudc-cluster%3Dpeer-test", token: token)
            let items = try #require(response.json?["items"] as? [String: [String: Any]])
            #expect((items["zones/us-central1-a"]?["instances"] as? [[String: Any]])?.first?["name"] as? String == "here")
            #expect((items["zones/us-east1-c"]?["instances"] as? [[String: Any]])?.first?["name"] as? String == "there")
            #expect((items["zones/us-east1-b"]?["warning"] as? [String: Any])?["code"] as? String == "NO_RESULTS_ON_PAGE")

            let partial = try await peer.compute("GET", "zones/us-central1-a/instances?fields=items(name,networkInterfaces/networkIP)", token: token)
            let only = try #require((partial.json?["items"] as? [[String: Any]])?.first)
            #expect(Set(only.keys) == ["name", "networkInterfaces"])
            #expect(partial.json?["kind"] == nil)
        }
    }

    @Test func injectedRateLimitsAndBackendErrorsHaveGooglesShape() async throws {
        try await GCEPeer.with { peer in
            let token = try await peer.accessToken()
            let prefix = peer.computePath("zones/us-central1-a/instances")
            try await peer.inject(.httpError(status: 429, count: 1, pathPrefix: prefix))
            try await peer.inject(.httpError(status: 503, count: 1, pathPrefix: prefix))
            let limited = try await peer.compute("GET", "zones/us-central1-a/instances", token: token)
            #expect(limited.status == 429)
            #expect(limited.errorReason == "rateLimitExceeded")
            let unavailable = try await peer.compute("GET", "zones/us-central1-a/instances", token: token)
            #expect(unavailable.status == 503)
            #expect(unavailable.errorReason == "backendError")
            #expect(try await peer.compute("GET", "zones/us-central1-a/instances", token: token).status == 200)
            // Other paths were never affected.
            #expect(try await peer.state().counts["faults_applied"] == 2)
        }
    }

    @Test func instancesGoFromProvisioningThroughStagingToRunningAndAwayThroughStopping() async throws {
        // Steps long enough that a loaded machine still sees each state.
        try await GCEPeer.with(stepSeconds: 2) { peer in
            let token = try await peer.accessToken()
            let operation = try await peer.insert(instanceBody("steps"), token: token)
            var seen: [String] = []
            var running: [String: Any] = [:]
            for _ in 0..<100 {
                let instance = try #require(try await peer.compute("GET", "zones/us-central1-a/instances/steps", token: token).json)
                let status = try #require(instance["status"] as? String)
                if seen.last != status { seen.append(status) }
                if status == "RUNNING" { running = instance; break }
                try await Task.sleep(nanoseconds: 100_000_000)
            }
            #expect(seen.first == "PROVISIONING", "an instance starts PROVISIONING: \(seen)")
            #expect(seen.last == "RUNNING")
            #expect(["PROVISIONING", "STAGING", "RUNNING"].filter(seen.contains) == seen, "in this order: \(seen)")
            let nic = try #require((running["networkInterfaces"] as? [[String: Any]])?.first)
            #expect((nic["networkIP"] as? String)?.hasPrefix("10.128.0.") == true)
            #expect(((nic["accessConfigs"] as? [[String: Any]])?.first?["natIP"] as? String) != nil)
            #expect(try await peer.compute("GET", "zones/us-central1-a/operations/\(operation)", token: token).json?["status"] as? String == "DONE")

            let delete = try await peer.compute("DELETE", "zones/us-central1-a/instances/steps", token: token)
            #expect(delete.json?["operationType"] as? String == "delete")
            #expect(try await peer.compute("GET", "zones/us-central1-a/instances/steps", token: token).json?["status"] as? String == "STOPPING")
            _ = try await peer.waitDone(try #require(delete.json?["name"] as? String), token: token)
            let gone = try await peer.compute("GET", "zones/us-central1-a/instances/steps", token: token)
            #expect(gone.status == 404)
            #expect(gone.errorMessage == "The resource 'projects/\(peer.project)/zones/us-central1-a/instances/steps' was not found")
            #expect(try await peer.state().disks.isEmpty, "autoDelete took the boot disk along")
        }
    }

    @Test func operationsWaitMayReturnBeforeTheOperationIsDone() async throws {
        try await GCEPeer.with(stepSeconds: 5) { peer in
            let token = try await peer.accessToken()
            try await peer.settings(waitTimeout: 0.2)
            let operation = try await peer.insert(instanceBody("slow"), token: token)
            let early = try await peer.compute("POST", "zones/us-central1-a/operations/\(operation)/wait", token: token)
            #expect(early.status == 200)
            #expect(["PENDING", "RUNNING"].contains(early.json?["status"] as? String), "Google's wait ends at its deadline, done or not")
            // Deleting while the insert still runs is refused, as on Google.
            let tooSoon = try await peer.compute("DELETE", "zones/us-central1-a/instances/slow", token: token)
            #expect(tooSoon.status == 400)
            #expect(tooSoon.errorReason == "resourceNotReady")
        }
    }

    @Test func aBootDiskWithoutAutoDeleteOutlivesItsInstanceAsTheAPIDefaults() async throws {
        try await GCEPeer.with(stepSeconds: 0.1) { peer in
            let token = try await peer.accessToken()
            let operation = try await peer.insert(instanceBody("keeper", autoDelete: nil), token: token)
            _ = try await peer.waitDone(operation, token: token)
            let delete = try await peer.compute("DELETE", "zones/us-central1-a/instances/keeper", token: token)
            _ = try await peer.waitDone(try #require(delete.json?["name"] as? String), token: token)
            let state = try await peer.state()
            #expect(state.instances.isEmpty)
            #expect(state.disks.map(\.name) == ["keeper"])
            #expect(state.disks.first?.instance == nil)
            // The disks API shows it, and deletes it.
            let disks = try await peer.compute("GET", "zones/us-central1-a/disks", token: token)
            #expect((disks.json?["items"] as? [[String: Any]])?.first?["users"] == nil)
            let deleteDisk = try await peer.compute("DELETE", "zones/us-central1-a/disks/keeper", token: token)
            _ = try await peer.waitDone(try #require(deleteDisk.json?["name"] as? String), token: token)
            #expect(try await peer.state().disks.isEmpty)
        }
    }

    @Test func listsFilterOnLabelsAndPage() async throws {
        try await GCEPeer.with { peer in
            let token = try await peer.accessToken()
            for (name, cluster) in [("a-1", "alpha"), ("a-2", "alpha"), ("b-1", "beta")] {
                _ = try await peer.insert(instanceBody(name, labels: ["cloudc-cluster": cluster, "role": "compute"]), token: token)
            }
            func names(_ filter: String, extra: String = "") async throws -> [String] {
                let query = filter.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? filter
                let response = try await peer.compute("GET", "zones/us-central1-a/instances?filter=\(query)\(extra)", token: token)
                try #require(response.status == 200, "\(response.text)")
                return (response.json?["items"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
            }
            #expect(try await names("labels.cloudc-cluster = \"alpha\"") == ["a-1", "a-2"])
            #expect(try await names("labels.cloudc-cluster=beta") == ["b-1"])
            #expect(try await names("(labels.cloudc-cluster = \"alpha\") AND (labels.role = \"compute\")") == ["a-1", "a-2"])
            #expect(try await names("labels.cloudc-cluster = \"alpha\" labels.role = \"frontend\"").isEmpty)
            #expect(try await names("labels.cloudc-cluster = gamma").isEmpty)

            let bad = try await peer.compute("GET", "zones/us-central1-a/instances?filter=labels.cloudc-cluster%20%3D", token: token)
            #expect(bad.status == 400)
            #expect(bad.errorReason == "invalid")

            let first = try await peer.compute("GET", "zones/us-central1-a/instances?maxResults=2", token: token)
            #expect((first.json?["items"] as? [[String: Any]])?.count == 2)
            let next = try #require(first.json?["nextPageToken"] as? String)
            let second = try await peer.compute("GET", "zones/us-central1-a/instances?maxResults=2&pageToken=\(next)", token: token)
            #expect((second.json?["items"] as? [[String: Any]])?.compactMap { $0["name"] as? String } == ["b-1"])
            #expect(second.json?["nextPageToken"] == nil)
            // An empty list has no items at all, as Google's.
            let empty = try await peer.compute("GET", "zones/us-east1-b/instances", token: token)
            #expect(empty.status == 200)
            #expect(empty.json?["items"] == nil)
            #expect(empty.json?["kind"] as? String == "compute#instanceList")
        }
    }

    @Test func firewallsAreGlobalWithGlobalOperations() async throws {
        try await GCEPeer.with(stepSeconds: 0.1) { peer in
            let token = try await peer.accessToken()
            let rule: [String: Any] = [
                "name": "cloudc-peer-ssh", "network": "global/networks/default", "direction": "INGRESS",
                "allowed": [["IPProtocol": "tcp", "ports": ["22"]]], "sourceRanges": ["203.0.113.7/32"],
                "targetTags": ["cloudc-peer"],
            ]
            let insert = try await peer.compute("POST", "global/firewalls", json: rule, token: token)
            #expect(insert.status == 200, "\(insert.text)")
            let operation = try #require(insert.json?["name"] as? String)
            #expect(insert.json?["zone"] == nil)
            let done = try await peer.compute("POST", "global/operations/\(operation)/wait", token: token)
            #expect(done.json?["status"] as? String == "DONE")
            #expect(try await peer.compute("GET", "global/firewalls/cloudc-peer-ssh", token: token).json?["sourceRanges"] as? [String] == ["203.0.113.7/32"])
            #expect(try await peer.compute("POST", "global/firewalls", json: rule, token: token).status == 409)

            var badRule = rule
            badRule["name"] = "bad-rule"
            badRule["sourceRanges"] = ["203.0.113.7/40"]
            badRule["allowed"] = [["IPProtocol": "tcp", "ports": ["22"], "port": "22"]]
            let bad = try await peer.compute("POST", "global/firewalls", json: badRule, token: token)
            #expect(bad.errorMessage == "Invalid JSON payload received. Unknown name \"port\" at 'firewall_resource.allowed[0]': Cannot find field.")

            let delete = try await peer.compute("DELETE", "global/firewalls/cloudc-peer-ssh", token: token)
            _ = try await peer.compute("POST", "global/operations/\(try #require(delete.json?["name"] as? String))/wait", token: token)
            #expect(try await peer.compute("GET", "global/firewalls/cloudc-peer-ssh", token: token).status == 404)
            // What is left are the default network's own rules, there from the start as in a new project.
            #expect(try await peer.state().firewalls.map(\.name).sorted()
                    == ["default-allow-icmp", "default-allow-internal", "default-allow-rdp", "default-allow-ssh"])
            let listed = try await peer.compute("GET", "global/firewalls", token: token)
            let items = listed.json?["items"] as? [[String: Any]] ?? []
            #expect(items.contains { $0["name"] as? String == "default-allow-ssh" && $0["sourceRanges"] as? [String] == ["0.0.0.0/0"]
                && $0["priority"] as? Int == 65534 })
        }
    }

    /// instances.setMetadata replaces the whole metadata, and only with the fingerprint of what it
    /// replaces (as Google: 412 conditionNotMet otherwise, so two writers cannot undo each other).
    @Test func setMetadataNeedsTheCurrentFingerprint() async throws {
        try await GCEPeer.with { peer in
            let token = try await peer.accessToken()
            var body = instanceBody("keyed")
            body["metadata"] = ["items": [["key": "ssh-keys", "value": "admin:ssh-ed25519 AAAA first"]]]
            _ = try await peer.waitDone(try await peer.insert(body, token: token), token: token)
            let path = "zones/us-central1-a/instances/keyed"
            let before = try #require(try await peer.compute("GET", path, token: token).json?["metadata"] as? [String: Any])
            let fingerprint = try #require(before["fingerprint"] as? String)

            let items = [["key": "ssh-keys", "value": "admin:ssh-ed25519 AAAA first\nsecond:ssh-ed25519 BBBB second"]]
            let stale = try await peer.compute("POST", path + "/setMetadata", json: ["items": items, "fingerprint": "c3RhbGU="], token: token)
            #expect(stale.status == 412 && stale.errorReason == "conditionNotMet", "\(stale.text)")
            let set = try await peer.compute("POST", path + "/setMetadata", json: ["items": items, "fingerprint": fingerprint], token: token)
            #expect(set.status == 200 && set.json?["operationType"] as? String == "setMetadata", "\(set.text)")
            let after = try #require(try await peer.compute("GET", path, token: token).json?["metadata"] as? [String: Any])
            #expect((after["items"] as? [[String: String]])?.first?["value"]?.contains("second:") == true)
            #expect(after["fingerprint"] as? String != fingerprint)
            let again = try await peer.compute("POST", path + "/setMetadata", json: ["items": items, "fingerprint": fingerprint], token: token)
            #expect(again.status == 412, "the old fingerprint no longer matches")
        }
    }

    @Test func theCatalogueAnswersLikeGoogles() async throws {
        try await GCEPeer.with { peer in
            let token = try await peer.accessToken()
            let a2 = try #require(try await peer.compute("GET", "zones/us-central1-a/machineTypes/a2-highgpu-1g", token: token).json)
            #expect(a2["guestCpus"] as? Int == 12)
            #expect((a2["accelerators"] as? [[String: Any]])?.first?["guestAcceleratorType"] as? String == "nvidia-tesla-a100")
            #expect(a2["zone"] as? String == "us-central1-a")
            for name in ["e2-standard-4", "n2-standard-8", "n1-standard-8", "g2-standard-4"] {
                #expect(try await peer.compute("GET", "zones/us-central1-a/machineTypes/\(name)", token: token).status == 200)
            }
            #expect(try await peer.compute("GET", "zones/us-central1-a/acceleratorTypes/nvidia-l4", token: token).json?["maximumCardsPerInstance"] as? Int == 8)
            #expect(try await peer.compute("GET", "zones/europe-west1-b/acceleratorTypes/nvidia-tesla-a100", token: token).status == 404)
            let debian = try await peer.send("GET", "/compute/v1/projects/debian-cloud/global/images/family/debian-12", token: token)
            #expect(debian.json?["name"] as? String == "debian-12-bookworm-v20250113", "the family's newest image that is not deprecated")
            #expect(try await peer.send("GET", "/compute/v1/projects/debian-cloud/global/images/debian-12-bookworm-v20241009", token: token).json?["deprecated"] != nil)
            let zone = try await peer.compute("GET", "zones/us-central1-a", token: token)
            #expect(zone.json?["status"] as? String == "UP")
            #expect(try await peer.compute("GET", "zones/us-central1-z", token: token).status == 404)
            // Another project's resources are not this account's.
            let other = try await peer.send("GET", "/compute/v1/projects/someone-else/zones/us-central1-a/instances", token: token)
            #expect(other.status == 403)
            #expect(other.errorReason == "forbidden")
        }
    }
}
