import FuzzEntries
import Foundation
import XCTest

/// Replays the fuzzing corpus kept in the repo (Fuzz/corpus/TARGET/, inputs the fuzzer found
/// interesting and every input that once crashed) through the fuzz targets' own bodies: a parser
/// that crashes or breaks a promised property on any of them fails the run (the process traps).
final class FuzzCorpusTests: XCTestCase {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fuzz/corpus")

    func testEveryTargetHasACorpusAndEveryInputPasses() throws {
        var replayed: [String: Int] = [:]
        for name in FuzzEntries.names {
            let folder = Self.corpus.appendingPathComponent(name)
            let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
            for file in files {
                FuzzEntries.targets[name]!(Array(try Data(contentsOf: folder.appendingPathComponent(file))))
            }
            replayed[name] = files.count
        }
        for name in FuzzEntries.names {
            XCTAssertGreaterThan(replayed[name] ?? 0, 0, "Fuzz/corpus/\(name) holds inputs")
        }
    }
}
