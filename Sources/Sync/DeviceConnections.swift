import AXL
import DeviceClients
import Foundation
import Inventory
import Postgres
import Queue
import Secrets
import Synchronization

/// How jobs reach a registered device: the device, its password opened with the key
/// `UCP_SECRET_KEY_FILE` names, and clients that stop when the job is canceled.
public struct DeviceConnections {
    public let device: Device
    public let endpoint: DeviceEndpoint

    /// Loads the device and its password. Refusals are one line for the operator.
    public static func open(name: String, connection: Connection, concurrency: Int) async throws -> DeviceConnections {
        // One way to open devices: `openAll` (its refusals, its passwords kept per worker).
        guard let opened = try await openAll(names: [name], connection: connection, concurrency: concurrency)[name] else {
            throw DeviceJobFailure("device '\(name)': no such device")
        }
        return opened
    }

    public func axl(options: AXLClient.Options = .init(), context: JobContext) -> AXLClient {
        AXLClient(endpoint: endpoint, version: AXLVersion(device.axlVersion) ?? .latest, options: options,
                  isCanceled: { (try? context.checkCancellation()) == nil })
    }

    /// An AXL client on connections kept from one job to the next (default options), for work that
    /// comes back every few seconds to minutes — change-notification polls — and would otherwise
    /// spend its time opening TLS connections. One set per device, replaced when the device's
    /// address, credentials or AXL version change.
    func keptAXL(context: JobContext, abandonOnCancel: Bool = true) -> AXLClient {
        let version = AXLVersion(device.axlVersion) ?? .latest
        let endpoint = endpoint, name = device.name
        let base = Self.kept.withLock { kept in
            if let client = kept[name], client.endpoint.connectsLike(endpoint), client.version == version { return client }
            let client = AXLClient(endpoint: endpoint, version: version)
            kept[name] = client
            return client
        }
        return base.sharingConnections(isCanceled: Self.abandons(context, onCancel: abandonOnCancel))
    }

    /// When a request in flight is abandoned: the attempt lost the job or the worker stops, and —
    /// unless `onCancel` is false — an operator canceled the job. An order's write is not abandoned
    /// for a cancel: its answer is awaited and recorded, and the order stops before its next write.
    static func abandons(_ context: JobContext, onCancel: Bool) -> @Sendable () -> Bool {
        {
            do {
                try context.checkCancellation()
                return false
            } catch {
                return onCancel || !(error is JobCanceledError)
            }
        }
    }

    /// The clients `keptAXL` keeps, by device name.
    private static let kept = Mutex<[String: AXLClient]>([:])

    /// Order jobs: the call processor's AXL client on the connections `keptAXL` keeps (an order's
    /// ten calls would otherwise open their own TLS connections).
    public func keptAXLForOrders(context: JobContext) -> AXLClient {
        keptAXL(context: context, abandonOnCancel: false)
    }

    /// A CUPI client on connections kept from one job to the next, like `keptAXL` (order jobs'
    /// Unity Connection users). One set per device, replaced when its address or credentials change.
    public func keptCUPI(context: JobContext) -> CUPIClient {
        let endpoint = endpoint, name = device.name
        let base = Self.keptCUPIClients.withLock { kept in
            if let client = kept[name], client.endpoint.connectsLike(endpoint) { return client }
            let client = CUPIClient(endpoint: endpoint)
            kept[name] = client
            return client
        }
        return base.sharingConnections(isCanceled: Self.abandons(context, onCancel: false))
    }

    /// The clients `keptCUPI` keeps, by device name.
    private static let keptCUPIClients = Mutex<[String: CUPIClient]>([:])

    public func cupi(pageSize: Int = 500, context: JobContext) -> CUPIClient {
        CUPIClient(endpoint: endpoint, pageSize: pageSize, isCanceled: { (try? context.checkCancellation()) == nil })
    }

    /// Unified CM Express answers getCCMVersion like a Unified CM; its version says what it is.
    static func isExpress(_ version: String) -> Bool {
        version.localizedCaseInsensitiveContains("express")
    }
}

/// A device job that cannot go on: its message is the job's error, one line for the operator.
public struct DeviceJobFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }

    /// The reason an operator reads for any failure of a device job; `withOperation` names the
    /// AXL operation or CUPI resource a client error is about.
    static func reason(_ error: Error, withOperation: Bool) -> String {
        switch error {
        case let client as DeviceClientError: return withOperation ? client.description : client.message
        case let failure as DeviceJobFailure: return failure.description
        case let fault as AXLFault: return fault.description
        default: return "\(error)"
        }
    }
}
