import Foundation
import Runtime

/// How often a schedule runs (Table 3, "Synchronize Every"): one time, or every N hours, days or weeks.
/// Written on the command line as `once`, `6h`, `1d`, `2w`; stored the same way (`Codable` as that string).
public enum ScheduleFrequency: Hashable, Sendable, CustomStringConvertible {
    case once
    case every(Int, Unit)

    public enum Unit: String, CaseIterable, Hashable, Sendable {
        case hours = "h", days = "d", weeks = "w"

        /// Whole days one step of the unit keeps the time of day across; nil for hours, which step in
        /// absolute time.
        var days: Int? {
            switch self {
            case .hours: return nil
            case .days: return 1
            case .weeks: return 7
            }
        }
    }

    /// Large enough for any real schedule, small enough that date arithmetic never overflows.
    public static let maximumInterval = 9999

    /// Parses `once | <N>h | <N>d | <N>w` (the unit in either case).
    public init(parsing rawText: String) throws(InputError) {
        func fail(_ problem: String) -> InputError {
            InputError(field: "every", problem: problem)
        }
        let text = rawText.trimmingSpaces
        if text.lowercased() == "once" {
            self = .once
            return
        }
        if text.isEmpty {
            throw fail("'' is empty (use once, <N>h, <N>d or <N>w)")
        }
        let unitText = String(text.reversed().prefix(while: \.isLetter).reversed())
        let numberText = text.dropLast(unitText.count).trimmingSpaces
        if unitText.isEmpty {
            throw fail("\(InputError.quoted(text)) has no unit (use h, d or w, or once)")
        }
        guard let unit = Unit(rawValue: unitText.lowercased()) else {
            throw fail("unknown unit \(InputError.quoted(unitText)) in \(InputError.quoted(text)) (use h, d or w, or once)")
        }
        // Digits only: `Int` alone would also take "+5" and "-3".
        guard !numberText.isEmpty, numberText.unicodeScalars.allSatisfy({ ("0"..."9").contains($0) }),
              numberText.contains(where: { $0 != "0" }) else {
            throw fail("\(InputError.quoted(text)) — the interval must be a whole number of at least 1")
        }
        // `Int` is nil only for a number too long for it, which is past the maximum too.
        guard let count = Int(numberText), count <= Self.maximumInterval else {
            throw fail("\(InputError.quoted(text)) — the interval must be at most \(Self.maximumInterval)")
        }
        self = .every(count, unit)
    }

    /// The command-line form: `once`, `6h`, `1d`, `2w`.
    public var cliForm: String {
        switch self {
        case .once: return "once"
        case .every(let count, let unit): return "\(count)\(unit.rawValue)"
        }
    }

    /// For people: `one time`, `every 6 hours`, `every day`, `every 2 weeks`.
    public var description: String {
        switch self {
        case .once: return "one time"
        case .every(let count, let unit):
            let noun: String
            switch unit {
            case .hours: noun = "hour"
            case .days: noun = "day"
            case .weeks: noun = "week"
            }
            return count == 1 ? "every \(noun)" : "every \(count) \(noun)s"
        }
    }

    /// The first due time strictly after `instant` of a schedule starting at `start`; nil when a one-time
    /// schedule has had its run. See `ScheduleTiming` for the daylight-saving rules.
    public func nextRun(after instant: Date, start: Date, timeZone: TimeZone) -> Date? {
        ScheduleTiming(frequency: self, start: start, timeZone: timeZone).nextRun(after: instant)
    }
}

extension ScheduleFrequency: Codable {
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do {
            try self.init(parsing: text)
        } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.description))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(cliForm)
    }
}

/// What the coordinator does with a schedule at `now`.
public struct DueRuns: Hashable, Sendable {
    /// The due time of the one run to start now (the latest due time not after `now`); nil when
    /// nothing is due. The coordinator records it as the schedule's last fired time.
    public var due: Date?
    /// Earlier due times since the last fired one that were missed (coordinator down) and are folded
    /// into `due` rather than run one by one — for the run log.
    public var missedCount: Int
    /// The first due time strictly after `now`; nil when the schedule has no more runs.
    public var next: Date?

    public init(due: Date?, missedCount: Int, next: Date?) {
        self.due = due
        self.missedCount = missedCount
        self.next = next
    }
}

/// When a schedule runs: its frequency stepped from its start, in its time zone.
///
/// Run k of a schedule is:
/// - hours: `start + k × N hours` in absolute time, so the clock reading shifts by the daylight-saving
///   change (an every-6-hours schedule keeps its 6-hour spacing);
/// - days and weeks: the start's time of day in `timeZone`, `k × N` (× 7) calendar days after the start
///   date, so a daily 10:00 run stays at 10:00 across daylight-saving changes. A time the clocks skip
///   (02:30 when they jump from 02:00 to 03:00) runs at the shifted time (03:30); a time the clocks show
///   twice (02:30 when they go back from 03:00 to 02:00) runs once, at the first of the two.
/// Run 0 is `start` itself.
public struct ScheduleTiming: Hashable, Sendable {
    public var frequency: ScheduleFrequency
    public var start: Date
    public var timeZone: TimeZone

    public init(frequency: ScheduleFrequency, start: Date, timeZone: TimeZone) {
        self.frequency = frequency
        self.start = start
        self.timeZone = timeZone
    }

    /// The first due time strictly after `instant`; nil when there is none (a one-time schedule whose
    /// start is not after `instant`).
    public func nextRun(after instant: Date) -> Date? {
        let index = indexOfFirstRun(after: instant)
        return hasRun(index) ? run(index) : nil
    }

    /// What to fire at `now`, given the due time fired last (nil when the schedule never fired): a
    /// schedule missed several times fires once, for its latest due time, and then carries on from
    /// `next`. A schedule that never fired counts its due times from `start`, so one whose start has
    /// passed fires once straight away.
    public func dueRuns(lastFired: Date?, now: Date) -> DueRuns {
        let firstUnfired = lastFired.map(indexOfFirstRun(after:)) ?? 0
        let firstFuture = indexOfFirstRun(after: now)
        let next = hasRun(firstFuture) ? run(firstFuture) : nil
        guard firstFuture > firstUnfired else {
            return DueRuns(due: nil, missedCount: 0, next: next)
        }
        return DueRuns(due: run(firstFuture - 1), missedCount: firstFuture - 1 - firstUnfired, next: next)
    }

    // MARK: - Runs by index

    /// Parsing never yields a count below 1, but the enum case can be built by hand; a zero step would
    /// divide by zero, so it counts as 1.
    private static func safeCount(_ count: Int) -> Int { max(count, 1) }

    private func hasRun(_ index: Int) -> Bool {
        frequency == .once ? index == 0 : true
    }

    /// The due time of run `index` (≥ 0).
    func run(_ index: Int) -> Date {
        guard index > 0 else { return start }
        switch frequency {
        case .once:
            return start
        case .every(let count, let unit):
            let step = TimeInterval(Self.safeCount(count))
            guard let days = unit.days else {
                return start.addingTimeInterval(TimeInterval(index) * step * 3600)
            }
            let reading = WallClock.reading(of: start, in: timeZone)
                + TimeInterval(index) * step * TimeInterval(days) * 86_400
            return WallClock.resolve(reading, in: timeZone).scheduledInstant
        }
    }

    /// The index of the first run strictly after `instant` (for a one-time schedule, 1 means none).
    func indexOfFirstRun(after instant: Date) -> Int {
        guard instant >= start else { return 0 }
        let estimate: Int
        switch frequency {
        case .once:
            return 1
        case .every(let count, let unit):
            let step = TimeInterval(Self.safeCount(count))
            if let days = unit.days {
                let elapsed = WallClock.reading(of: instant, in: timeZone) - WallClock.reading(of: start, in: timeZone)
                estimate = Int((elapsed / (step * TimeInterval(days) * 86_400)).rounded(.down))
            } else {
                estimate = Int((instant.timeIntervalSince(start) / (step * 3600)).rounded(.down)) + 1
            }
        }
        // The estimate can be off by one near a daylight-saving change or through rounding; settle it.
        var index = max(estimate, 1)
        while index > 1 && run(index - 1) > instant { index -= 1 }
        while run(index) <= instant { index += 1 }
        return index
    }
}
