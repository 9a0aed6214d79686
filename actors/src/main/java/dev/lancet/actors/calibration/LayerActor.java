package dev.lancet.actors.calibration;

import dev.lancet.actors.WireMessage;
import com.google.protobuf.Message;
import dev.lancet.actors.calibration.BlockSums.LayerSums;
import dev.lancet.engine.curvature.KfacFactor;
import dev.lancet.engine.curvature.Precision;
import dev.lancet.engine.linalg.Workspaces;
import dev.lancet.proto.BatchFolded;
import dev.lancet.proto.BlockRecovered;
import dev.lancet.proto.LayerActivations;
import dev.lancet.proto.SnapshotRequest;
import dev.lancet.proto.SnapshotRestored;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorRefResolver;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.PreRestart;
import org.apache.pekko.actor.typed.SupervisorStrategy;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.StashBuffer;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * One decoder block's share of the curvature: it receives the (a, g) blocks of the block's linear layers (or, forward
 * only, the a blocks of a signal whose second moment is summed) and folds them into the running KFAC sums,
 * remembering per layer which batches it folded so a replayed batch is never counted twice, and gives the blocks'
 * buffers back to the pool. On (re)start it restores its last snapshot from the curvature actor and reports what
 * it holds, so the coordinator can replay what was lost.
 */
public final class LayerActor {

    public sealed interface Command extends WireMessage permits Fold, Snapshot, Restored {
    }

    /**
     * One linear layer's inputs a [n, in] and output gradients g [n, out] (null for a forward-only factor: a is
     * the signal) for one batch. Within a node the arrays travel by reference and the layer actor gives them back
     * to the {@link BlockPool} once folded; across nodes (or with serialize-messages) they travel as
     * {@link LayerActivations}.
     */
    public record Fold(long batch, String layer, INDArray a, INDArray g) implements Command {
        @Override
        public Message toProto(ActorRefResolver resolver) {
            LayerActivations.Builder m = LayerActivations.newBuilder().setBatch(batch).setLayer(layer)
                    .setA(TensorBlocks.toProto(a));
            if (g != null) {
                m.setG(TensorBlocks.toProto(g));
            }
            return m.build();
        }

        public static Fold fromProto(LayerActivations m) {
            return new Fold(m.getBatch(), m.getLayer(), TensorBlocks.toArray(m.getA()),
                    m.hasG() ? TensorBlocks.toArray(m.getG()) : null);
        }
    }

    /**
     * Send the block's current sums, tagged with {@code round}, to {@code replyTo}: a copy, or with
     * {@code last} the sums themselves, after which the actor stops (the run is complete).
     */
    public record Snapshot(long round, boolean last, ActorRef<CurvatureActor.Command> replyTo) implements Command {
        @Override
        public Message toProto(ActorRefResolver resolver) {
            return SnapshotRequest.newBuilder().setRound(round).setLast(last)
                    .setReplyTo(resolver.toSerializationFormat(replyTo)).build();
        }
    }

    /** The curvature actor's answer to a restore request: a copy of this block's last snapshot (maybe empty). */
    public record Restored(BlockSums sums) implements Command {
        @Override
        public Message toProto(ActorRefResolver resolver) {
            return SnapshotRestored.newBuilder().setSnapshot(sums.toProto()).build();
        }
    }

    private final int block;
    private final Precision precision;
    private final ActorRef<CalibrationCoordinator.Command> coordinator;
    private final BlockPool pool;
    private final Map<String, KfacFactor> factors = new LinkedHashMap<>();
    private final Map<String, TreeSet<Long>> folded = new HashMap<>();

    private LayerActor(int block, List<KfacFactor.Shape> shapes, Precision precision,
                       ActorRef<CalibrationCoordinator.Command> coordinator, BlockPool pool, BlockSums restored) {
        this.block = block;
        this.precision = precision;
        this.coordinator = coordinator;
        this.pool = pool;
        for (KfacFactor.Shape shape : shapes) {
            factors.put(shape.layer(), KfacFactor.empty(shape));
            folded.put(shape.layer(), new TreeSet<>());
        }
        for (LayerSums sums : restored.layers()) {
            String name = sums.factor().layer();
            if (!factors.containsKey(name)) {
                throw new IllegalStateException("snapshot of block " + block + " has unknown layer " + name);
            }
            factors.put(name, sums.factor()).close();
            folded.put(name, new TreeSet<>(sums.batches()));
        }
    }

    /** @param shapes the factors this actor sums (e.g. those of the block's linear layers) */
    public static Behavior<Command> create(int block, List<KfacFactor.Shape> shapes, Precision precision,
                                           ActorRef<CurvatureActor.Command> curvature,
                                           ActorRef<CalibrationCoordinator.Command> coordinator, BlockPool pool) {
        Behavior<Command> restoring = Behaviors.withStash(10_000, stash -> Behaviors.setup(context -> {
            curvature.tell(new CurvatureActor.Restore(block, context.getSelf()));
            return Behaviors.receive(Command.class)
                    .onMessage(Restored.class, r -> {
                        LayerActor actor = new LayerActor(block, shapes, precision, coordinator, pool, r.sums());
                        actor.reportRecovered();
                        return stash.unstashAll(actor.ready());
                    })
                    .onAnyMessage(m -> stashed(stash, m))
                    .build();
        }));
        return Behaviors.supervise(restoring).onFailure(Exception.class, SupervisorStrategy.restart());
    }

    private static Behavior<Command> stashed(StashBuffer<Command> stash, Command message) {
        stash.stash(message);
        return Behaviors.same();
    }

    private Behavior<Command> ready() {
        return Behaviors.receive(Command.class)
                .onMessage(Fold.class, this::onFold)
                .onMessage(Snapshot.class, this::onSnapshot)
                .onMessage(Restored.class, r -> {
                    r.sums().close();
                    return Behaviors.same();
                })
                .onSignal(PreRestart.class, signal -> closeSums())
                .onSignal(PostStop.class, signal -> {
                    // the fold's workspace, on a fold thread of its own (lancet.fold-dispatcher)
                    Workspaces.releaseThread();
                    return closeSums();
                })
                .build();
    }

    /** Gigabytes for a large model: freed at once, not at some later garbage collection. */
    private Behavior<Command> closeSums() {
        factors.values().forEach(KfacFactor::close);
        factors.clear();
        return Behaviors.same();
    }

    /** Batches every layer of the block holds, i.e. those this block has fully folded. */
    private TreeSet<Long> completeBatches() {
        TreeSet<Long> common = null;
        for (TreeSet<Long> batches : folded.values()) {
            if (common == null) {
                common = new TreeSet<>(batches);
            } else {
                common.retainAll(batches);
            }
        }
        return common == null ? new TreeSet<>() : common;
    }

    private void reportRecovered() {
        coordinator.tell(new CalibrationCoordinator.Recovered(
                BlockRecovered.newBuilder().setBlock(block).addAllBatches(completeBatches()).build()));
    }

    private Behavior<Command> onFold(Fold fold) {
        try {
            KfacFactor factor = factors.get(fold.layer());
            if (factor == null) {
                throw new IllegalArgumentException("block " + block + " has no layer " + fold.layer());
            }
            TreeSet<Long> batches = folded.get(fold.layer());
            if (batches.contains(fold.batch())) {
                return Behaviors.same();
            }
            try (MemoryWorkspace ignored = Workspaces.open(Workspaces.FOLD)) {
                factor.add(fold.a(), fold.g(), precision);
            }
            batches.add(fold.batch());
        } finally {
            pool.giveBack(fold.a(), fold.g());
        }
        if (folded.values().stream().allMatch(b -> b.contains(fold.batch()))) {
            coordinator.tell(new CalibrationCoordinator.Folded(
                    BatchFolded.newBuilder().setBlock(block).setBatch(fold.batch()).build()));
        }
        return Behaviors.same();
    }

    private Behavior<Command> onSnapshot(Snapshot request) {
        List<LayerSums> layers = new ArrayList<>();
        factors.forEach((name, factor) ->
                layers.add(new LayerSums(request.last() ? factor : factor.copy(), new TreeSet<>(folded.get(name)))));
        request.replyTo().tell(new CurvatureActor.BlockState(new BlockSums(block, request.round(), layers)));
        if (request.last()) {
            factors.clear(); // handed over
            return Behaviors.stopped();
        }
        return Behaviors.same();
    }
}
