import Foundation
import Logging
import Synchronization

/// How a long-running role writes its log lines to standard error.
public enum LogFormat: String, Sendable, CaseIterable {
    /// swift-log's own lines, for people.
    case text
    /// One JSON object per line, for log collectors (`JSONLogHandler`).
    case json
}

/// One JSON object per log line: `time` (ISO 8601, UTC, milliseconds), `level`, `message`,
/// `process` (the role's name), and from the logger's metadata `job_id`, `attempt` and `type`
/// when a job's handler logs; the rest of the metadata under `metadata`. Values of metadata keys
/// that name a secret are never written (`LogRedaction`, as in text lines).
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let process: String
    private let output: LineOutput

    /// The metadata keys the top-level fields come from (the worker sets them on a job's logger).
    static let promoted: [(key: String, field: String)] = [("job.id", "job_id"), ("job.attempt", "attempt"), ("job.type", "type")]

    public init(process: String, level: Logger.Level, output: LineOutput = .standardError) {
        self.process = process
        self.logLevel = level
        self.output = output
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        output.write(Self.line(time: Date(), level: event.level, message: "\(event.message)", process: process,
                               metadata: LogRedaction.merged(metadata, metadataProvider, event)))
    }

    /// The JSON line (without its newline) of one event.
    static func line(time: Date, level: Logger.Level, message: String, process: String, metadata: Logger.Metadata) -> String {
        var object: [String: Any] = [
            "time": time.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)),
            "level": level.rawValue, "message": message, "process": process,
        ]
        var rest = metadata
        for (key, field) in promoted {
            guard let value = rest.removeValue(forKey: key) else { continue }
            let text = "\(value)"
            object[field] = Int64(text).map { $0 as Any } ?? text
        }
        if !rest.isEmpty {
            var nested: [String: Any] = [:]
            for (key, value) in LogRedaction.redacted(rest) { nested[key] = plain(value) }
            object["metadata"] = nested
        }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    private static func plain(_ value: Logger.Metadata.Value) -> Any {
        switch value {
        case .string(let text): return text
        case .stringConvertible(let convertible): return "\(convertible)"
        case .array(let values): return values.map(plain)
        case .dictionary(let values): return values.mapValues(plain)
        }
    }
}

/// swift-log's text lines (`StreamLogHandler`), with the values of secret-named metadata keys
/// replaced as in JSON lines (`LogRedaction`): the handler keeps the logger's metadata and provider
/// itself and hands the stream handler only the merged, redacted metadata of each event.
public struct TextLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let lines: StreamLogHandler

    public init(label: String, level: Logger.Level, output: LineOutput = .standardError) {
        logLevel = level
        lines = StreamLogHandler(label: label, stream: LineOutputStream(output: output), metadataProvider: nil)
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var redacted = event
        redacted.metadata = LogRedaction.redacted(LogRedaction.merged(metadata, metadataProvider, event))
        lines.log(event: redacted)
    }

    /// The stream handler's text, a line per `write` (it writes each event as one string ending in a newline).
    private struct LineOutputStream: TextOutputStream, Sendable {
        let output: LineOutput
        mutating func write(_ string: String) {
            output.write(string.hasSuffix("\n") ? String(string.dropLast()) : string)
        }
    }
}

/// The one rule for secrets in log metadata, whatever the format: the value of a key that names a
/// secret (password, secret, token, key, credential), at any depth, is written as `[redacted]`.
public enum LogRedaction {
    public static let placeholder: Logger.Metadata.Value = "[redacted]"

    public static func isSecretKey(_ key: String) -> Bool {
        let lowered = key.lowercased()
        return ["password", "secret", "token", "key", "credential"].contains { lowered.contains($0) }
    }

    /// What an event's line shows: the logger's metadata, its provider's, then the event's own,
    /// later ones winning.
    static func merged(_ metadata: Logger.Metadata, _ provider: Logger.MetadataProvider?, _ event: LogEvent) -> Logger.Metadata {
        var merged = metadata
        if let provided = provider?.get() { merged.merge(provided) { $1 } }
        if let own = event.metadata { merged.merge(own) { $1 } }
        return merged
    }

    public static func redacted(_ metadata: Logger.Metadata) -> Logger.Metadata {
        var redacted = metadata
        for (key, value) in metadata { redacted[key] = isSecretKey(key) ? placeholder : self.redacted(value) }
        return redacted
    }

    private static func redacted(_ value: Logger.Metadata.Value) -> Logger.Metadata.Value {
        switch value {
        case .dictionary(let values): return .dictionary(redacted(values))
        case .array(let values): return .array(values.map(redacted))
        case .string, .stringConvertible: return value
        }
    }
}

/// Where log lines go: whole lines, one `write` each, so lines of concurrent tasks never interleave.
public final class LineOutput: Sendable {
    private let descriptor: Int32
    private let lock = Mutex(())

    public init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    public static let standardError = LineOutput(descriptor: 2)

    public func write(_ line: String) {
        var bytes = Array(line.utf8)
        bytes.append(UInt8(ascii: "\n"))
        lock.withLock { _ in
            var offset = 0
            while offset < bytes.count {
                let written = bytes.withUnsafeBytes { buffer in
                    #if canImport(Glibc)
                    Glibc.write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                    #else
                    Darwin.write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                    #endif
                }
                if written < 0 && errno == EINTR { continue }  // a signal arrived mid-write: the rest still goes out
                if written <= 0 { return }
                offset += written
            }
        }
    }
}

/// The one logging bootstrap of a `ucp` process.
public enum LogSetup {
    /// Sends every logger's lines to standard error in `format` at `level`; `process` names the
    /// role's process in JSON lines.
    public static func bootstrap(format: LogFormat, level: Logger.Level, process: String) {
        LoggingSystem.bootstrap { label in
            switch format {
            case .text:
                return TextLogHandler(label: label, level: level)
            case .json:
                return JSONLogHandler(process: process, level: level)
            }
        }
    }
}
