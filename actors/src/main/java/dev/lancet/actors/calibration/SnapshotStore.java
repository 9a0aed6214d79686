package dev.lancet.actors.calibration;

import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Where the curvature actor keeps each block's last snapshot, outside any actor so that it survives actor
 * restarts. The store owns what it holds: a newer snapshot of a block replaces (and frees) the older one,
 * {@link #peek} lends one for copying, {@link #take} hands it over, and {@link #close} frees what is left
 * once no actor uses the store any more. In memory here; the daemon will back it with files.
 */
public interface SnapshotStore extends AutoCloseable {

    /** Keeps {@code sums} if it is newer than what the store holds for its block, else frees it. */
    void save(BlockSums sums);

    /** The block's last snapshot, still owned by the store: copy it before it is replaced. */
    Optional<BlockSums> peek(int block);

    /** Removes and returns the block's last snapshot. */
    Optional<BlockSums> take(int block);

    /** Frees every snapshot still held. */
    @Override
    void close();

    static SnapshotStore inMemory() {
        Map<Integer, BlockSums> snapshots = new ConcurrentHashMap<>();
        return new SnapshotStore() {
            @Override
            public void save(BlockSums sums) {
                BlockSums old = snapshots.get(sums.block());
                if (old != null && old.round() > sums.round()) {
                    sums.close();
                    return;
                }
                snapshots.put(sums.block(), sums);
                if (old != null && old != sums) {
                    old.close();
                }
            }

            @Override
            public Optional<BlockSums> peek(int block) {
                return Optional.ofNullable(snapshots.get(block));
            }

            @Override
            public Optional<BlockSums> take(int block) {
                return Optional.ofNullable(snapshots.remove(block));
            }

            @Override
            public void close() {
                snapshots.values().forEach(BlockSums::close);
                snapshots.clear();
            }
        };
    }
}
