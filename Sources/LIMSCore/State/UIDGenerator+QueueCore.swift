import QueueCore

/// The uid generator of lab objects is QueueCore's (task uids come from it too); these names keep
/// `import LIMSCore` enough for the lab code that creates objects.
public typealias UIDGenerator = QueueCore.UIDGenerator

/// Production generator of lab object uids (QueueCore's ``QueueCore/TimeOrderedUIDGenerator``).
public typealias TimeOrderedUIDGenerator = QueueCore.TimeOrderedUIDGenerator

/// Test generator of lab object uids (QueueCore's ``QueueCore/SequentialUIDGenerator``).
public typealias SequentialUIDGenerator = QueueCore.SequentialUIDGenerator

/// A generator of uuid4-like random lab object uids (QueueCore's ``QueueCore/RandomUIDGenerator``).
public typealias RandomUIDGenerator = QueueCore.RandomUIDGenerator
