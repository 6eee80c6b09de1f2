#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// Random 64-bit words from the operating system's generator, read 4 KiB at a time: the kernel's generator, as
/// Swift's `SystemRandomNumberGenerator` (Linux `getrandom`; here `/dev/urandom`, Apple `arc4random_buf`), which reads
/// 8 bytes per call, one system call each. Every task's uid, lease token and history entry took two: 2.6 % of all samples of `limsqueue
/// bench queue --batched` (perf, release) before this buffer.
public final class RandomBytes: Sendable {
    /// The process's buffer.
    public static let shared = RandomBytes()

    /// Bytes read per refill.
    static let refillBytes = 4_096

    private let state = Mutex<(words: [UInt64], next: Int)>(([], 0))

    init() {}

    /// The next random word.
    public func next() -> UInt64 {
        state.withLock { state in
            if state.next >= state.words.count {
                state.words = Self.read(count: Self.refillBytes / 8)
                state.next = 0
            }
            defer { state.next += 1 }
            return state.words[state.next]
        }
    }

    /// `count` words from the operating system (Swift's own generator when the direct read fails).
    static func read(count: Int) -> [UInt64] {
        var words = [UInt64](repeating: 0, count: count)
        let filled = words.withUnsafeMutableBytes { buffer -> Bool in
            #if canImport(Glibc)
            // The kernel's generator through /dev/urandom (Swift's Glibc module has no `getrandom`): it never
            // blocks once the kernel's pool is initialized, which it is long before a server starts.
            let file = open("/dev/urandom", O_RDONLY | O_CLOEXEC)
            guard file >= 0 else { return false }
            defer { close(file) }
            var offset = 0
            while offset < buffer.count {
                let got = Glibc.read(file, buffer.baseAddress! + offset, buffer.count - offset)
                if got < 0 {
                    if errno == EINTR { continue }
                    return false
                }
                if got == 0 { return false }
                offset += got
            }
            return true
            #elseif canImport(Darwin)
            arc4random_buf(buffer.baseAddress!, buffer.count)
            return true
            #else
            return false
            #endif
        }
        if !filled {
            var generator = SystemRandomNumberGenerator()
            for index in words.indices { words[index] = generator.next() }
        }
        return words
    }
}

/// A `RandomNumberGenerator` over ``RandomBytes/shared``: the operating system's randomness, buffered.
public struct BufferedSystemRandom: RandomNumberGenerator {
    public init() {}

    public mutating func next() -> UInt64 { RandomBytes.shared.next() }
}
