import Foundation
import FuzzEntries

// `ucp-fuzz`: the fuzz targets of FuzzEntries. Built by scripts/fuzz.sh with `-sanitize=fuzzer
// -DFUZZING`, it hands the target named by UCP_FUZZ_TARGET to libFuzzer with the command line's
// arguments (corpus folders, -max_total_time …). Built plainly, it replays files:
// `ucp-fuzz TARGET FILE…`.

func target(named name: String?) -> @Sendable ([UInt8]) -> Void {
    guard let name, let body = FuzzEntries.targets[name] else {
        FileHandle.standardError.write(Data("ucp-fuzz: target: use one of \(FuzzEntries.names.joined(separator: ", "))\n".utf8))
        exit(2)
    }
    return body
}

#if FUZZING
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32

let selected = target(named: ProcessInfo.processInfo.environment["UCP_FUZZ_TARGET"])

/// libFuzzer's entry, which its runtime also links against.
@_cdecl("LLVMFuzzerTestOneInput")
func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    selected(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
    return 0
}

var argc = CommandLine.argc
var argv = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv, fuzzOne))
#else
let arguments = CommandLine.arguments.dropFirst()
let body = target(named: arguments.first)
for path in arguments.dropFirst() {
    guard let data = FileManager.default.contents(atPath: path) else {
        FileHandle.standardError.write(Data("ucp-fuzz: \(path): cannot be read\n".utf8))
        exit(2)
    }
    body(Array(data))
}
#endif
