/// senaite.queue's chunking: the first `size` items and the rest; everything at once when `size <= 0` or
/// `size >= items.count`. Source: senaite.queue `get_chunks`, reference 1.1.
public func taskChunks<T>(_ items: [T], size: Int) -> (chunk: [T], rest: [T]) {
    guard size > 0, size < items.count else { return (items, []) }
    return (Array(items[..<size]), Array(items[size...]))
}
