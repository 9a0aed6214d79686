package dev.lancet.actors.calibration;

import dev.lancet.engine.curvature.KfacFactor;
import dev.lancet.engine.curvature.KfacState;
import dev.lancet.proto.BlockSnapshot;
import java.util.List;
import java.util.SortedSet;
import java.util.TreeSet;

/**
 * Running KFAC sums of one decoder block's linear layers as of snapshot {@code round} (block −1: the whole
 * model), with the batches each layer has folded. Its native memory belongs to whoever holds it: a message
 * carrying it hands it over, and the holder {@link #close}s it when done. Wire form: {@link BlockSnapshot}.
 */
public record BlockSums(int block, long round, List<LayerSums> layers) implements AutoCloseable {

    public record LayerSums(KfacFactor factor, SortedSet<Long> batches) {
    }

    public BlockSums {
        layers = List.copyOf(layers);
    }

    public static BlockSums empty(int block) {
        return new BlockSums(block, 0, List.of());
    }

    /** An independent copy (new native memory). */
    public BlockSums copy() {
        return new BlockSums(block, round, layers.stream()
                .map(l -> new LayerSums(l.factor().copy(), new TreeSet<>(l.batches()))).toList());
    }

    /** Frees the native memory now rather than at some later garbage collection; unusable afterwards. */
    @Override
    public void close() {
        layers.forEach(l -> l.factor().close());
    }

    /** The factors as a state (handing their memory over to it). */
    public KfacState toState() {
        KfacState state = new KfacState();
        layers.forEach(l -> state.put(l.factor()));
        return state;
    }

    BlockSnapshot toProto() {
        BlockSnapshot.Builder proto = BlockSnapshot.newBuilder().setBlock(block).setRound(round);
        layers.forEach(l -> proto.addFactors(TensorBlocks.toProto(l.factor(), l.batches())));
        return proto.build();
    }

    public static BlockSums fromProto(BlockSnapshot proto) {
        return new BlockSums(proto.getBlock(), proto.getRound(), proto.getFactorsList().stream()
                .map(f -> new LayerSums(TensorBlocks.toFactor(f), new TreeSet<>(f.getBatchesList()))).toList());
    }
}
