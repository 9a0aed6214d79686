package dev.lancet.actors.calibration;

import dev.lancet.actors.WireMessage;
import com.google.protobuf.Message;
import dev.lancet.actors.calibration.BlockSums.LayerSums;
import dev.lancet.engine.curvature.KfacFactor;
import dev.lancet.engine.curvature.Precision;
import dev.lancet.engine.linalg.Workspaces;
import dev.lancet.proto.BatchFolded;
import dev.lancet.proto.BlockHandedOver;
import dev.lancet.proto.BlockRecovered;
import dev.lancet.proto.FactorShape;
import dev.lancet.proto.LayerActivations;
import dev.lancet.proto.LayerEntityMessage;
import dev.lancet.proto.LayerRun;
import dev.lancet.proto.SnapshotRequest;
import dev.lancet.proto.SnapshotRestored;
import dev.lancet.proto.WakeBlock;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
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
 * only, the a blocks of a signal whose second moment is summed) and folds them into the running KFAC sums in batch
 * order whatever order they arrive in (a batch ahead of the next one waits), so the sums' bytes never depend on
 * message timing or replays; it remembers per layer which batches it folded so a replayed batch is never counted
 * twice, and gives the blocks' buffers back to the pool. On (re)start it restores its last snapshot from the
 * curvature actor and reports what it holds, so the coordinator can replay what was lost. It runs as a child of the
 * coordinator ({@link #create}) or as a cluster entity ({@link #entity}) that learns its run from each message.
 */
public final class LayerActor {

    public sealed interface Command extends WireMessage permits Fold, Snapshot, Restored, Wake, ToEntity {
    }

    /** What a layer actor knows of its run: its block, the factors it sums, where it restores from and reports to. */
    public record Run(int block, List<KfacFactor.Shape> shapes, Precision precision,
                      ActorRef<CurvatureActor.Command> curvature, ActorRef<CalibrationCoordinator.Command> coordinator) {
        public Run {
            shapes = List.copyOf(shapes);
        }

        public LayerRun toProto(ActorRefResolver resolver) {
            LayerRun.Builder run = LayerRun.newBuilder().setBlock(block).setPrecision(precision.name())
                    .setCurvature(resolver.toSerializationFormat(curvature))
                    .setCoordinator(resolver.toSerializationFormat(coordinator));
            shapes.forEach(s -> run.addShapes(FactorShape.newBuilder().setLayer(s.layer()).setBias(s.bias())
                    .setDimA(s.dimA()).setDimG(s.dimG())));
            return run.build();
        }

        public static Run fromProto(LayerRun run, ActorRefResolver resolver) {
            return new Run(run.getBlock(), run.getShapesList().stream()
                    .map(s -> new KfacFactor.Shape(s.getLayer(), s.getBias(), s.getDimA(), s.getDimG())).toList(),
                    Precision.valueOf(run.getPrecision()), resolver.resolveActorRef(run.getCurvature()),
                    resolver.resolveActorRef(run.getCoordinator()));
        }
    }

    /**
     * One linear layer's inputs a [n, in] and output gradients g [n, out] (null for a forward-only factor: a is
     * the signal) for one batch. Within a node the arrays travel by reference and the layer actor gives them back
     * to the {@link BlockPool} once folded; across nodes (or with serialize-messages) they travel as
     * {@link LayerActivations}.
     */
    public record Fold(long batch, String layer, INDArray a, INDArray g) implements Command {
        @Override
        public LayerActivations toProto(ActorRefResolver resolver) {
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
        public SnapshotRequest toProto(ActorRefResolver resolver) {
            return SnapshotRequest.newBuilder().setRound(round).setLast(last)
                    .setReplyTo(resolver.toSerializationFormat(replyTo)).build();
        }

        static Snapshot fromProto(SnapshotRequest m, ActorRefResolver resolver) {
            return new Snapshot(m.getRound(), m.getLast(), resolver.resolveActorRef(m.getReplyTo()));
        }
    }

    /** The curvature actor's answer to a restore request: a copy of this block's last snapshot (maybe empty). */
    public record Restored(BlockSums sums) implements Command {
        @Override
        public Message toProto(ActorRefResolver resolver) {
            return SnapshotRestored.newBuilder().setSnapshot(sums.toProto()).build();
        }
    }

    /**
     * The coordinator's nudge to a block that owes it answers: a cluster entity whose member died is started again
     * by it (and restores and reports); a running layer actor ignores it.
     */
    public record Wake() implements Command {
        @Override
        public Message toProto(ActorRefResolver resolver) {
            return WakeBlock.getDefaultInstance();
        }
    }

    /**
     * A message for a layer entity, in its wire form from the start (a fold's arrays are copied into it at once,
     * so the sender's buffers go back to its pool before the message is sent), with the entity's run.
     */
    public record ToEntity(LayerEntityMessage message) implements Command {
        /** {@code command}: a {@link Fold} (its arrays are copied, not kept), {@link Snapshot} or {@link Wake}. */
        public static ToEntity of(Run run, Command command, ActorRefResolver resolver) {
            LayerEntityMessage.Builder m = LayerEntityMessage.newBuilder().setRun(run.toProto(resolver));
            if (command instanceof Fold fold) {
                m.setFold(fold.toProto(resolver));
            } else if (command instanceof Snapshot snapshot) {
                m.setSnapshot(snapshot.toProto(resolver));
            } else if (!(command instanceof Wake)) {
                throw new IllegalArgumentException("a layer entity takes no " + command);
            }
            return new ToEntity(m.build());
        }

        @Override
        public Message toProto(ActorRefResolver resolver) {
            return message;
        }

        /** The command inside (a fold's arrays decoded into new ones, which the receiver frees). */
        Command command(ActorRefResolver resolver) {
            return switch (message.getCommandCase()) {
                case FOLD -> Fold.fromProto(message.getFold());
                case SNAPSHOT -> Snapshot.fromProto(message.getSnapshot(), resolver);
                case COMMAND_NOT_SET -> new Wake();
            };
        }
    }

    private final Run run;
    private final BlockPool pool;
    private final ActorRefResolver resolver;
    private final Map<String, KfacFactor> factors = new LinkedHashMap<>();
    private final Map<String, TreeSet<Long>> folded = new HashMap<>();
    /** Per layer, the folds that arrived ahead of the layer's next batch. */
    private final Map<String, TreeMap<Long, Fold>> ahead = new HashMap<>();

    private LayerActor(Run run, BlockPool pool, ActorRefResolver resolver, BlockSums restored) {
        this.run = run;
        this.pool = pool;
        this.resolver = resolver;
        for (KfacFactor.Shape shape : run.shapes()) {
            factors.put(shape.layer(), KfacFactor.empty(shape));
            folded.put(shape.layer(), new TreeSet<>());
            ahead.put(shape.layer(), new TreeMap<>());
        }
        for (LayerSums sums : restored.layers()) {
            String name = sums.factor().layer();
            if (!factors.containsKey(name)) {
                throw new IllegalStateException("snapshot of block " + run.block() + " has unknown layer " + name);
            }
            factors.put(name, sums.factor()).close();
            folded.put(name, new TreeSet<>(sums.batches()));
        }
    }

    /** A layer actor in this JVM: the blocks it is handed come from {@code pool}, and go back to it. */
    public static Behavior<Command> create(Run run, BlockPool pool) {
        Behavior<Command> restoring = Behaviors.withStash(10_000, stash -> Behaviors.setup(context -> {
            run.curvature().tell(new CurvatureActor.Restore(run.block(), context.getSelf()));
            return Behaviors.receive(Command.class)
                    .onMessage(Restored.class, r -> {
                        LayerActor actor = new LayerActor(run, pool,
                                ActorRefResolver.get(context.getSystem()), r.sums());
                        actor.reportRecovered();
                        return stash.unstashAll(actor.ready());
                    })
                    .onAnyMessage(m -> stashed(stash, m))
                    .build();
        }));
        return Behaviors.supervise(restoring).onFailure(Exception.class, SupervisorStrategy.restart());
    }

    /**
     * A layer actor as a cluster entity (a block of a run, wherever sharding puts it): it starts as its first
     * {@link ToEntity} arrives, from the run that message carries, then restores like {@link #create} before it
     * handles that message. Its blocks arrive off the wire, so its pool only frees them. It folds on a thread of the
     * member's pool.
     */
    public static Behavior<Command> entity() {
        return Behaviors.setup(context -> Behaviors.receive(Command.class)
                .onMessage(ToEntity.class, first -> {
                    // handled once restored: folds are applied in batch order and snapshots carry their batches, so
                    // the first message may wait behind any others
                    context.getSelf().tell(first);
                    return create(Run.fromProto(first.message().getRun(), ActorRefResolver.get(context.getSystem())),
                            new BlockPool());
                })
                .build());
    }

    private static Behavior<Command> stashed(StashBuffer<Command> stash, Command message) {
        stash.stash(message);
        return Behaviors.same();
    }

    private Behavior<Command> ready() {
        return Behaviors.receive(Command.class)
                .onMessage(Fold.class, this::onFold)
                .onMessage(Snapshot.class, this::onSnapshot)
                .onMessage(ToEntity.class, m -> {
                    Command command = m.command(resolver);
                    if (command instanceof Fold fold) {
                        return onFold(fold);
                    }
                    return command instanceof Snapshot snapshot ? onSnapshot(snapshot) : Behaviors.same();
                })
                .onMessage(Wake.class, m -> Behaviors.same())
                .onMessage(Restored.class, r -> {
                    r.sums().close();
                    return Behaviors.same();
                })
                .onSignal(PreRestart.class, signal -> closeSums())
                .onSignal(PostStop.class, signal -> closeSums())
                .build();
    }

    /** Gigabytes for a large model: freed at once, not at some later garbage collection. */
    private Behavior<Command> closeSums() {
        factors.values().forEach(KfacFactor::close);
        factors.clear();
        ahead.values().forEach(waiting -> waiting.values().forEach(f -> pool.giveBack(f.a(), f.g())));
        ahead.clear();
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
        run.coordinator().tell(new CalibrationCoordinator.Recovered(
                BlockRecovered.newBuilder().setBlock(run.block()).addAllBatches(completeBatches()).build()));
    }

    private Behavior<Command> onFold(Fold fold) {
        KfacFactor factor = factors.get(fold.layer());
        TreeSet<Long> batches = folded.get(fold.layer());
        TreeMap<Long, Fold> waiting = ahead.get(fold.layer());
        if (factor == null || batches.contains(fold.batch()) || waiting.containsKey(fold.batch())) {
            pool.giveBack(fold.a(), fold.g());
            if (factor == null) {
                throw new IllegalArgumentException("block " + run.block() + " has no layer " + fold.layer());
            }
            return Behaviors.same(); // a replay
        }
        waiting.put(fold.batch(), fold);
        for (Fold next = waiting.remove(firstMissing(batches)); next != null;
             next = waiting.remove(firstMissing(batches))) {
            try {
                fold(factor, next);
            } finally {
                pool.giveBack(next.a(), next.g());
            }
            batches.add(next.batch());
            long batch = next.batch();
            if (folded.values().stream().allMatch(b -> b.contains(batch))) {
                run.coordinator().tell(new CalibrationCoordinator.Folded(
                        BatchFolded.newBuilder().setBlock(run.block()).setBatch(batch).build()));
            }
        }
        return Behaviors.same();
    }

    private void fold(KfacFactor factor, Fold fold) {
        try (MemoryWorkspace ignored = Workspaces.open(Workspaces.FOLD)) {
            factor.add(fold.a(), fold.g(), run.precision());
        }
    }

    /** The layer's next batch in order: the first one it has not folded (runs number batches from 0). */
    private static long firstMissing(TreeSet<Long> batches) {
        long batch = 0;
        while (batches.contains(batch)) {
            batch++;
        }
        return batch;
    }

    private Behavior<Command> onSnapshot(Snapshot request) {
        List<LayerSums> layers = new ArrayList<>();
        factors.forEach((name, factor) ->
                layers.add(new LayerSums(request.last() ? factor : factor.copy(), new TreeSet<>(folded.get(name)))));
        request.replyTo().tell(new CurvatureActor.BlockState(new BlockSums(run.block(), request.round(), layers)));
        if (request.last()) {
            factors.clear(); // handed over
            run.coordinator().tell(new CalibrationCoordinator.HandedOver(BlockHandedOver.newBuilder()
                    .setBlock(run.block()).setRound(request.round()).build()));
            return Behaviors.stopped();
        }
        return Behaviors.same();
    }
}
