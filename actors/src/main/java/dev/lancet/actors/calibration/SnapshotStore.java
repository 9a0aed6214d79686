package dev.lancet.actors.calibration;

import dev.lancet.proto.BlockSnapshot;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Where the curvature actor keeps each block's last snapshot, outside any actor so that it survives
 * actor restarts. In memory here; the daemon will back it with files.
 */
public interface SnapshotStore {

    void save(BlockSnapshot snapshot);

    Optional<BlockSnapshot> load(int block);

    static SnapshotStore inMemory() {
        Map<Integer, BlockSnapshot> snapshots = new ConcurrentHashMap<>();
        return new SnapshotStore() {
            @Override
            public void save(BlockSnapshot snapshot) {
                snapshots.merge(snapshot.getBlock(), snapshot, (old, now) -> now.getRound() >= old.getRound() ? now : old);
            }

            @Override
            public Optional<BlockSnapshot> load(int block) {
                return Optional.ofNullable(snapshots.get(block));
            }
        };
    }
}
