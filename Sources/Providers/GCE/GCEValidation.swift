import CloudcCore
import Foundation

/// Checking a cluster spec against the project before anything is created.
extension GCEProvider {
    public func validate(_ spec: ClusterSpec) async throws {
        guard let firstZone = zones.first else {
            throw CloudcError(.config, "cloud '\(spec.cloud.name)' has no zone", fix: "set zones: [us-central1-a] in clouds.\(spec.cloud.name)")
        }
        for zone in zones {
            guard try await apiIfExists({ try await client.zone(zone) }) != nil else {
                throw CloudcError(.config, "zone \(zone) does not exist in project \(project)",
                                  fix: "set zones: in clouds.\(spec.cloud.name) to zones of Compute Engine, e.g. [us-central1-a, us-central1-b] (gcloud compute zones list)")
            }
        }
        var machineTypes: [String: JSONValue] = [:]
        for flavor in Set(spec.groups.map(\.flavor)).sorted() {
            guard let machine = try await apiIfExists({ try await client.machineType(flavor, zone: firstZone) }) else {
                let users = spec.groups.filter { $0.flavor == flavor }.map(\.name).joined(separator: ", ")
                throw CloudcError(.config, "machine type \(flavor) (group \(users)) does not exist in zone \(firstZone)",
                                  fix: "set flavor: to a machine type offered in \(firstZone), e.g. e2-standard-4 or n1-standard-8 (gcloud compute machine-types list --zones \(firstZone))")
            }
            machineTypes[flavor] = machine
        }
        for group in spec.groups {
            guard let wanted = group.gpus, let machine = machineTypes[group.flavor] else { continue }
            try await validateGPUs(wanted, group: group, machine: machine, zone: firstZone, template: spec.template)
        }
        for reference in Set([spec.image] + spec.groups.compactMap(\.image)).sorted() {
            let image = try await resolveImage(reference, template: spec.template)
            let minimum = image["diskSizeGb"]?.int ?? 0
            for group in spec.groups where (group.image ?? spec.image) == reference {
                if let disk = group.diskGB, disk < minimum {
                    throw CloudcError(.config, "group '\(group.name)' asks for a \(disk) GB disk, but image \(reference) needs at least \(minimum) GB",
                                      fix: "set disk_gb: \(minimum) or more in clusters.\(spec.template).groups.\(group.name), or leave it out")
                }
            }
        }
    }

    /// Accelerator-optimized types (a2, a3, g2, …) carry their GPUs; N1 takes attached ones;
    /// other families take none.
    func validateGPUs(_ wanted: GPURequest, group: NodeGroupSpec, machine: JSONValue, zone: String, template: String) async throws {
        let key = "clusters.\(template).groups.\(group.name)"
        if let bundled = Self.bundledAccelerators(machine) {
            if let type = wanted.type, type != bundled.type {
                throw CloudcError(.config, "group '\(group.name)' asks for \(type) GPUs, but machine type \(group.flavor) comes with \(bundled.count) \(bundled.type)",
                                  fix: "in \(key), set gpus: {type: \(bundled.type), count: \(bundled.count)} or leave gpus out: \(group.flavor) brings its own GPUs")
            }
            if wanted.count > bundled.count {
                throw CloudcError(.config, "group '\(group.name)' asks for \(wanted.count) GPU(s), but machine type \(group.flavor) comes with \(bundled.count) \(bundled.type)",
                                  fix: "in \(key), choose a larger machine type of the family (e.g. more GPUs in its name), or lower gpus.count")
            }
            return
        }
        guard group.flavor.hasPrefix("n1-") else {
            throw CloudcError(.config, "machine type \(group.flavor) of group '\(group.name)' cannot have GPUs attached",
                              fix: "in \(key), use an N1 type with gpus: {type: nvidia-tesla-t4, count: 1} (e.g. n1-standard-8), or a type that comes with GPUs (a2-highgpu-1g, g2-standard-4, a3-highgpu-8g)")
        }
        guard let type = wanted.type else {
            throw CloudcError(.config, "group '\(group.name)' asks for GPUs on \(group.flavor) without naming their type",
                              fix: "in \(key), set gpus: {type: nvidia-tesla-t4, count: \(wanted.count)} (gcloud compute accelerator-types list --filter zone:\(zone))")
        }
        guard let accelerator = try await apiIfExists({ try await client.acceleratorType(type, zone: zone) }) else {
            throw CloudcError(.config, "GPU type \(type) of group '\(group.name)' is not offered in zone \(zone)",
                              fix: "in \(key), choose a GPU type offered in \(zone) (gcloud compute accelerator-types list --filter zone:\(zone)), or put a zone that has \(type) first in zones:")
        }
        if let most = accelerator["maximumCardsPerInstance"]?.int, wanted.count > most {
            throw CloudcError(.config, "group '\(group.name)' asks for \(wanted.count) \(type) GPUs, but a VM can have at most \(most)",
                              fix: "in \(key), set gpus.count to at most \(most)")
        }
    }

    /// The GPUs a machine type comes with (`accelerators` of machineTypes.get), nil if none.
    static func bundledAccelerators(_ machine: JSONValue) -> (type: String, count: Int)? {
        guard let first = machine["accelerators"]?.items.first, let type = first["guestAcceleratorType"]?.string else { return nil }
        return (type, first["guestAcceleratorCount"]?.int ?? 1)
    }

    /// The image behind a config reference (a family resolves to its newest image).
    func resolveImage(_ text: String, template: String) async throws -> JSONValue {
        guard let reference = GCEImageReference(text, defaultProject: project) else {
            throw CloudcError(.config, "image '\(text)' is not a Compute Engine image",
                              fix: "set image: in clusters.\(template) to projects/PROJECT/global/images/family/FAMILY or projects/PROJECT/global/images/NAME, e.g. projects/debian-cloud/global/images/family/debian-12")
        }
        guard let image = try await apiIfExists({ try await client.image(reference) }) else {
            throw CloudcError(.config, "image \(reference) does not exist (or is not shared with project \(project))",
                              fix: "set image: in clusters.\(template) to an existing image, e.g. projects/debian-cloud/global/images/family/debian-12 (gcloud compute images list)")
        }
        return image
    }
}
