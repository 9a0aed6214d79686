package dev.lancet.actors.calibration;

import com.google.protobuf.Message;
import dev.lancet.engine.curvature.KfacFactor;
import dev.lancet.engine.curvature.Precision;
import dev.lancet.engine.linalg.Workspaces;
import dev.lancet.proto.BatchFolded;
import dev.lancet.proto.BlockRecovered;
import dev.lancet.proto.BlockSnapshot;
import dev.lancet.proto.FactorSums;
import dev.lancet.proto.LayerActivations;
import dev.lancet.proto.SnapshotRequest;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import org.apache.pekko.actor.typed.ActorRef;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.apache.pekko.actor.typed.ActorRefResolver;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.SupervisorStrategy;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.StashBuffer;

/**
 * One decoder block's share of the curvature: it receives the (a, g) blocks of the block's linear layers
 * and folds them into the running KFAC sums, remembering per layer which batches it folded so a replayed
 * batch is never counted twice. On (re)start it restores its last snapshot from the curvature actor and
 * reports what it holds, so the coordinator can replay what was lost.
 */
public final class LayerActor {

    public sealed interface Command extends WireMessage permits Fold, Snapshot, Restored {
    }

    /** One linear layer's activations and gradients for one batch. */
    public record Fold(LayerActivations activations) implements Command {
        @Override
        public Message toProto(ActorRefResolver resolver) {
            return activations;
        }
    }

    /** Send the block's current sums, tagged with {@code round}, to {@code replyTo}. */
    public record Snapshot(long round, ActorRef<CurvatureActor.Command> replyTo) implements Command {
        @Override
        public Message toProto(ActorRefResolver resolver) {
            return SnapshotRequest.newBuilder().setRound(round).setReplyTo(resolver.toSerializationFormat(replyTo))
                    .build();
        }
    }

    /** The curvature actor's answer to a restore request: the last snapshot of this block (maybe empty). */
    public record Restored(BlockSnapshot snapshot) implements Command {
        @Override
        public Message toProto(ActorRefResolver resolver) {
            return snapshot;
        }
    }

    private final int block;
    private final Precision precision;
    private final ActorRef<CalibrationCoordinator.Command> coordinator;
    private final Map<String, KfacFactor> factors = new LinkedHashMap<>();
    private final Map<String, TreeSet<Long>> folded = new HashMap<>();

    private LayerActor(int block, List<LinearSpec> layers, Precision precision,
                       ActorRef<CalibrationCoordinator.Command> coordinator, BlockSnapshot restored) {
        this.block = block;
        this.precision = precision;
        this.coordinator = coordinator;
        for (LinearSpec spec : layers) {
            factors.put(spec.name(), spec.emptyFactor());
            folded.put(spec.name(), new TreeSet<>());
        }
        for (FactorSums sums : restored.getFactorsList()) {
            if (!factors.containsKey(sums.getLayer())) {
                throw new IllegalStateException("snapshot of block " + block + " has unknown layer " + sums.getLayer());
            }
            factors.put(sums.getLayer(), TensorBlocks.toFactor(sums));
            folded.put(sums.getLayer(), new TreeSet<>(sums.getBatchesList()));
        }
    }

    public static Behavior<Command> create(int block, List<LinearSpec> layers, Precision precision,
                                           ActorRef<CurvatureActor.Command> curvature,
                                           ActorRef<CalibrationCoordinator.Command> coordinator) {
        Behavior<Command> restoring = Behaviors.withStash(10_000, stash -> Behaviors.setup(context -> {
            curvature.tell(new CurvatureActor.Restore(block, context.getSelf()));
            return Behaviors.receive(Command.class)
                    .onMessage(Restored.class, r -> {
                        LayerActor actor = new LayerActor(block, layers, precision, coordinator, r.snapshot());
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
                .onMessage(Restored.class, r -> Behaviors.same())
                .build();
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
        LayerActivations m = fold.activations();
        KfacFactor factor = factors.get(m.getLayer());
        if (factor == null) {
            throw new IllegalArgumentException("block " + block + " has no layer " + m.getLayer());
        }
        TreeSet<Long> batches = folded.get(m.getLayer());
        if (batches.contains(m.getBatch())) {
            return Behaviors.same();
        }
        try (MemoryWorkspace ignored = Workspaces.open("lancet-fold")) {
            factor.add(TensorBlocks.toArray(m.getA()), TensorBlocks.toArray(m.getG()), precision);
        }
        batches.add(m.getBatch());
        if (folded.values().stream().allMatch(b -> b.contains(m.getBatch()))) {
            coordinator.tell(new CalibrationCoordinator.Folded(
                    BatchFolded.newBuilder().setBlock(block).setBatch(m.getBatch()).build()));
        }
        return Behaviors.same();
    }

    private Behavior<Command> onSnapshot(Snapshot request) {
        BlockSnapshot.Builder snapshot = BlockSnapshot.newBuilder().setBlock(block).setRound(request.round());
        factors.forEach((name, factor) -> snapshot.addFactors(TensorBlocks.toProto(factor, folded.get(name))));
        request.replyTo().tell(new CurvatureActor.BlockState(snapshot.build()));
        return Behaviors.same();
    }
}
