package dev.lancet.actors.calibration;

import dev.lancet.actors.WireMessage;
import com.google.protobuf.Message;
import dev.lancet.engine.curvature.KfacState;
import dev.lancet.engine.curvature.Precision;
import dev.lancet.engine.text.CalibrationSource;
import dev.lancet.proto.BatchComputed;
import dev.lancet.proto.BatchFolded;
import dev.lancet.proto.BlockHandedOver;
import dev.lancet.proto.BlockRecovered;
import dev.lancet.proto.CalibrationProgress;
import dev.lancet.proto.StartCalibration;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.apache.pekko.actor.NoSerializationVerificationNeeded;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorRefResolver;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Routers;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;

/**
 * Drives one calibration run: spawns the workers that compute batches side by side (gradient workers, or for
 * forward-only work others; see {@link CalibrationWork}), one layer actor per block of the work ({@link Layers}:
 * children, or entities of a cluster) and the curvature actor; hands batches to the workers with at most
 * {@code maxInFlight} not yet folded by every block (backpressure: memory stays bounded whatever the sample count);
 * takes a snapshot every {@code snapshotEvery} completed batches; replays the batches a restarted layer actor lost;
 * and when all batches are folded, collects the state, sends it to whoever started the run and stops.
 */
public final class CalibrationCoordinator {

    /**
     * What the coordinator handles: what others send it is a {@link WireMessage}; its own timer tick and adapted
     * replies are private, so they never leave it, and are never serialized.
     */
    public sealed interface Command {
    }

    /** Begin; the collected curvature goes to {@code replyTo}. */
    public record Start(ActorRef<CurvatureActor.Collected> replyTo) implements Command, WireMessage {
        @Override
        public Message toProto(ActorRefResolver resolver) {
            return StartCalibration.newBuilder().setReplyTo(resolver.toSerializationFormat(replyTo)).build();
        }
    }

    public record Computed(BatchComputed result) implements Command, WireMessage {
        @Override
        public Message toProto(ActorRefResolver resolver) {
            return result;
        }
    }

    public record Folded(BatchFolded folded) implements Command, WireMessage {
        @Override
        public Message toProto(ActorRefResolver resolver) {
            return folded;
        }
    }

    /** A layer actor (re)started holding these batches; its first report doubles as "ready". */
    public record Recovered(BlockRecovered recovered) implements Command, WireMessage {
        @Override
        public Message toProto(ActorRefResolver resolver) {
            return recovered;
        }
    }

    /** A block handed its sums of a last snapshot round over to the curvature actor (and stopped). */
    public record HandedOver(BlockHandedOver handedOver) implements Command, WireMessage {
        @Override
        public Message toProto(ActorRefResolver resolver) {
            return handedOver;
        }
    }

    /** Timer tick: (re)ask the curvature actor for the final state. */
    private record CollectDue() implements Command, NoSerializationVerificationNeeded {
    }

    /** The curvature actor's collected state (through a message adapter), on its way to whoever started the run. */
    private record Finished(CurvatureActor.Collected collected) implements Command, NoSerializationVerificationNeeded {
    }

    /** Progress of the run, for a progress bar or a daemon's status. */
    public record Progress(CalibrationProgress progress) implements WireMessage {
        @Override
        public Message toProto(ActorRefResolver resolver) {
            return progress;
        }
    }

    /** Timer tick (cluster runs): wake the blocks that owe answers, in case their member died. */
    private record Resend() implements Command, NoSerializationVerificationNeeded {
    }

    /** Where a run's blocks are folded: layer actors that are the coordinator's children, or entities of a cluster. */
    public interface Layers {
        /** One child per block of the run: its layer actor, or a stand-in that forwards to it. */
        List<ActorRef<LayerActor.Command>> start(ActorContext<Command> context, List<LayerActor.Run> blocks,
                                                 BlockPool pool);

        /**
         * How long to wait before waking blocks that owe answers (null: never; children lose no message, while an
         * entity whose member died is only started again by a message).
         */
        Duration resendAfter();

        /** Layer actors as children on lancet.calibration.fold-dispatcher, named layer-i. */
        static Layers local() {
            return new Layers() {
                @Override
                public List<ActorRef<LayerActor.Command>> start(ActorContext<Command> context,
                                                                List<LayerActor.Run> blocks, BlockPool pool) {
                    String dispatcher = context.getSystem().settings().config()
                            .getString("lancet.calibration.fold-dispatcher");
                    return blocks.stream().map(run -> context.spawn(LayerActor.create(run, pool), "layer-" + run.block(),
                            DispatcherSelector.fromConfig(dispatcher))).toList();
                }

                @Override
                public Duration resendAfter() {
                    return null;
                }
            };
        }
    }

    /**
     * Tunables of a run; see conf/application.conf for their defaults. {@code workers} compute batches side by side; the
     * sums do not depend on how many, since every layer folds its batches in batch order.
     */
    public record Settings(int batchSize, int maxInFlight, int snapshotEvery, Precision precision, int workers) {
        public Settings {
            if (workers < 1) {
                throw new IllegalArgumentException("a calibration needs at least 1 worker, got " + workers);
            }
        }
    }

    private static final String COLLECT = "collect";
    private static final String RESEND = "resend";
    private static final Duration COLLECT_RETRY = Duration.ofSeconds(5);

    private final ActorContext<Command> context;
    private final Settings settings;
    private final int totalBatches;
    private final int windows;
    private final int seq;
    private long tokensDone;
    private final ActorRef<GradientWorker.Command> workers;
    private final List<ActorRef<LayerActor.Command>> layers;
    private final ActorRef<CurvatureActor.Command> curvature;
    private final ActorRef<Progress> progress;
    private final Map<Integer, Set<Long>> foldedBy = new HashMap<>();
    private final Set<Integer> readyBlocks = new HashSet<>();
    /** Blocks that handed over their sums of the current last round. */
    private final Set<Integer> handedOver = new HashSet<>();
    private final TreeSet<Long> dispatched = new TreeSet<>();
    private final Set<Long> complete = new HashSet<>();
    private ActorRef<CurvatureActor.Collected> replyTo;
    private final ActorRef<CurvatureActor.Collected> collected;
    private final TimerScheduler<Command> timers;
    private final BlockPool pool = new BlockPool();
    private long nextBatch;
    private long round;
    private int completeAtLastSnapshot;

    private CalibrationCoordinator(ActorContext<Command> context, TimerScheduler<Command> timers, CalibrationWork work,
                                   Layers blocks, CalibrationSource source, Settings settings, SnapshotStore store,
                                   KfacState base, ActorRef<Progress> progress) {
        this.context = context;
        this.timers = timers;
        this.collected = context.messageAdapter(CurvatureActor.Collected.class, Finished::new);
        this.settings = settings;
        this.totalBatches = source.batches(settings.batchSize());
        this.windows = source.windows();
        this.seq = source.seq();
        this.progress = progress;
        this.curvature = context.spawn(CurvatureActor.create(store, base, work.blocks()), "curvature");
        List<LayerActor.Run> runs = new ArrayList<>();
        for (int i = 0; i < work.blocks().size(); i++) {
            runs.add(new LayerActor.Run(i, work.blocks().get(i), settings.precision(), curvature, context.getSelf()));
            foldedBy.put(i, new HashSet<>());
        }
        this.layers = blocks.start(context, runs, pool);
        if (blocks.resendAfter() != null) {
            timers.startTimerWithFixedDelay(RESEND, new Resend(), blocks.resendAfter());
        }
        this.workers = context.spawn(Routers.pool(settings.workers(),
                        work.worker().create(source, settings.batchSize(), layers, pool)).withRoundRobinRouting()
                .withRouteeProps(DispatcherSelector.fromConfig("lancet.worker-dispatcher")), "workers");
    }

    public static Behavior<Command> create(CalibrationWork work, Layers blocks, CalibrationSource source,
                                           Settings settings, SnapshotStore store, KfacState base,
                                           ActorRef<Progress> progress) {
        return Behaviors.setup(context -> Behaviors.withTimers(timers -> new CalibrationCoordinator(context, timers,
                work, blocks, source, settings, store, base, progress).behavior()));
    }

    private Behavior<Command> behavior() {
        return Behaviors.receive(Command.class)
                .onMessage(Start.class, this::onStart)
                .onMessage(Computed.class, c -> Behaviors.same())
                .onMessage(Folded.class, this::onFolded)
                .onMessage(Recovered.class, this::onRecovered)
                .onMessage(HandedOver.class, m -> {
                    if (m.handedOver().getRound() == round) {
                        handedOver.add(m.handedOver().getBlock());
                    }
                    return Behaviors.same();
                })
                .onMessage(CollectDue.class, due -> {
                    curvature.tell(new CurvatureActor.Collect(round, layers.size(), totalBatches, collected));
                    return Behaviors.same();
                })
                .onMessage(Resend.class, m -> onResend())
                .onMessage(Finished.class, this::onFinished)
                .onSignal(PostStop.class, stopped -> {
                    pool.close();
                    return Behaviors.same();
                })
                .build();
    }

    private Behavior<Command> onStart(Start start) {
        replyTo = start.replyTo();
        dispatch();
        return Behaviors.same();
    }

    private boolean started() {
        return replyTo != null && readyBlocks.size() == layers.size();
    }

    private void dispatch() {
        if (!started()) {
            return;
        }
        while (nextBatch < totalBatches && dispatched.size() - complete.size() < settings.maxInFlight()) {
            dispatched.add(nextBatch);
            workers.tell(new GradientWorker.Compute(nextBatch++, context.getSelf()));
        }
    }

    private Behavior<Command> onRecovered(Recovered message) {
        int block = message.recovered().getBlock();
        Set<Long> held = new HashSet<>(message.recovered().getBatchesList());
        foldedBy.put(block, held);
        if (readyBlocks.add(block)) {
            dispatch();
            return Behaviors.same();
        }
        // a restart: whatever this block lost since its snapshot is computed again; other blocks skip duplicates
        context.getLog().warn("layer actor of block {} restarted holding {} batches; replaying the rest", block,
                held.size());
        if (!held.containsAll(dispatched) && timers.isTimerActive(COLLECT)) {
            // it lost batches of a last round under way: that round ends when they are folded again, with a new one
            timers.cancel(COLLECT);
        }
        for (long batch : dispatched) {
            if (!held.contains(batch)) {
                if (complete.remove(batch)) {
                    tokensDone -= labelledTokens(batch);
                }
                workers.tell(new GradientWorker.Compute(batch, context.getSelf()));
            }
        }
        return Behaviors.same();
    }

    private Behavior<Command> onFolded(Folded message) {
        long batch = message.folded().getBatch();
        foldedBy.get(message.folded().getBlock()).add(batch);
        if (complete.contains(batch) || !foldedBy.values().stream().allMatch(s -> s.contains(batch))) {
            return Behaviors.same();
        }
        complete.add(batch);
        tokensDone += labelledTokens(batch);
        if (progress != null) {
            progress.tell(new Progress(CalibrationProgress.newBuilder().setBatchesDone(complete.size())
                    .setBatchesTotal(totalBatches).setTokens(tokensDone).build()));
        }
        if (complete.size() == totalBatches) {
            snapshot(true);
            // repeated until answered: a curvature actor that restarted meanwhile has forgotten the request
            timers.startTimerWithFixedDelay(COLLECT, new CollectDue(), Duration.ZERO, COLLECT_RETRY);
        } else if (settings.snapshotEvery() > 0 && complete.size() - completeAtLastSnapshot >= settings.snapshotEvery()) {
            snapshot(false);
        }
        dispatch();
        return Behaviors.same();
    }

    /** The collected state is complete (the curvature actor checks every batch is in), whichever round it is of. */
    private Behavior<Command> onFinished(Finished finished) {
        replyTo.tell(finished.collected());
        return Behaviors.stopped();
    }

    /**
     * Wakes the blocks that owe answers: not yet ready, not done with a batch handed out, or, in a last round, not
     * yet handed over (asked again: the request may have gone to a member that died).
     */
    private Behavior<Command> onResend() {
        boolean collecting = timers.isTimerActive(COLLECT);
        for (int b = 0; b < layers.size(); b++) {
            if (collecting && readyBlocks.contains(b)) {
                if (!handedOver.contains(b)) {
                    layers.get(b).tell(new LayerActor.Snapshot(round, true, curvature));
                }
            } else if (!readyBlocks.contains(b) || !foldedBy.get(b).containsAll(dispatched)) {
                layers.get(b).tell(new LayerActor.Wake());
            }
        }
        return Behaviors.same();
    }

    /** Labelled positions of a batch (the last batch may hold fewer windows). */
    private long labelledTokens(long batch) {
        return Math.min(settings.batchSize(), windows - batch * settings.batchSize()) * (long) (seq - 1);
    }

    /** A snapshot round; the {@code last} one, once every batch is folded, hands the sums over. */
    private void snapshot(boolean last) {
        round++;
        handedOver.clear();
        completeAtLastSnapshot = complete.size();
        layers.forEach(layer -> layer.tell(new LayerActor.Snapshot(round, last, curvature)));
    }
}
