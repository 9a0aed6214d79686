package dev.lancet.actors.prune;

import com.google.protobuf.Message;
import dev.lancet.actors.WireMessage;
import dev.lancet.engine.prune.ThresholdSearch;
import dev.lancet.engine.prune.PruneUnit;
import dev.lancet.engine.prune.UnitReport;
import dev.lancet.proto.ShotSolved;
import dev.lancet.proto.SolveShot;
import dev.lancet.proto.UnitsApplied;
import dev.lancet.proto.UnitsOpened;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.IntFunction;
import java.util.function.Supplier;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorRefResolver;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.ChildFailed;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * One shot's global budget: spreads the units over a pool of {@link PruneWorker}s, sets the one threshold τ for the
 * whole model by bisection on the removed counts the workers report for candidate thresholds (no worker ships its
 * costs: unstructured pruning of a 7B model has billions), has the workers apply it, and answers with the threshold
 * and what each unit removed, in unit order. The answer does not depend on the number of workers. A worker that fails
 * fails the shot: weights may be half-corrected, so the caller restarts the shot from its last checkpoint.
 */
public final class PruneCoordinator {

    public sealed interface Command permits Solve, Opened, Counted, Applied {
    }

    /** Remove {@code target} weights in all (earlier shots' removals included); answer {@code replyTo}. */
    public record Solve(long target, ActorRef<Solved> replyTo) implements Command, WireMessage {
        @Override
        public Message toProto(ActorRefResolver resolver) {
            return SolveShot.newBuilder().setTarget(target).setReplyTo(resolver.toSerializationFormat(replyTo)).build();
        }
    }

    /** A worker priced its units. */
    public record Opened(int worker) implements Command, WireMessage {
        @Override
        public Message toProto(ActorRefResolver resolver) {
            return UnitsOpened.newBuilder().setWorker(worker).build();
        }
    }

    public record Counted(long round, long count) implements Command, WireMessage {
        @Override
        public Message toProto(ActorRefResolver resolver) {
            return dev.lancet.proto.Counted.newBuilder().setRound(round).setCount(count).build();
        }
    }

    /** A worker's reports, in the order of the units it was given. */
    public record Applied(int worker, List<UnitReport> reports) implements Command, WireMessage {
        public Applied {
            reports = List.copyOf(reports);
        }

        @Override
        public Message toProto(ActorRefResolver resolver) {
            UnitsApplied.Builder b = UnitsApplied.newBuilder().setWorker(worker);
            reports.forEach(r -> b.addUnits(r.toProto()));
            return b.build();
        }
    }

    /** The shot's answer: its threshold and each unit's report, or why it failed (then nothing else is set). */
    public record Solved(double threshold, List<UnitReport> units, String failure) implements WireMessage {
        public Solved {
            units = List.copyOf(units);
        }

        public boolean failed() {
            return !failure.isEmpty();
        }

        @Override
        public Message toProto(ActorRefResolver resolver) {
            ShotSolved.Builder b = ShotSolved.newBuilder().setThreshold(threshold).setFailure(failure);
            units.forEach(u -> b.addUnits(u.toProto()));
            return b.build();
        }
    }

    private final ActorContext<Command> context;
    private final int units;
    private final List<ActorRef<PruneWorker.Command>> workers = new ArrayList<>();
    private ActorRef<Solved> replyTo;
    private long target;
    private int opened;
    private ThresholdSearch search;
    private long round;
    private double tau;
    private int counted;
    private long count;
    private final UnitReport[] reports;
    private int applied;

    private PruneCoordinator(ActorContext<Command> context, int units, int workerCount, IntFunction<PruneUnit> unit,
                             DispatcherSelector dispatcher) {
        this.context = context;
        this.units = units;
        this.reports = new UnitReport[units];
        for (int w = 0; w < Math.min(workerCount, units); w++) {
            ActorRef<PruneWorker.Command> worker = context.spawn(PruneWorker.create(w, unit), "worker-" + w, dispatcher);
            context.watch(worker);
            workers.add(worker);
        }
    }

    /**
     * @param units   units of the shot, numbered 0..units−1
     * @param workers size of the worker pool (at most one per unit)
     * @param unit    opens unit i (computes its costs); called on the worker's thread
     */
    public static Behavior<Command> create(int units, int workers, IntFunction<PruneUnit> unit,
                                           DispatcherSelector dispatcher) {
        return Behaviors.setup(context -> new PruneCoordinator(context, units, workers, unit, dispatcher).idle());
    }

    /** Units of worker w: every workers.size()-th, from w on, so the split depends only on the pool size. */
    private List<Integer> unitsOf(int worker) {
        List<Integer> mine = new ArrayList<>();
        for (int u = worker; u < units; u += workers.size()) {
            mine.add(u);
        }
        return mine;
    }

    private Behavior<Command> idle() {
        return Behaviors.receive(Command.class)
                .onMessage(Solve.class, solve -> {
                    replyTo = solve.replyTo();
                    target = solve.target();
                    for (int w = 0; w < workers.size(); w++) {
                        workers.get(w).tell(new PruneWorker.Open(unitsOf(w), context.getSelf()));
                    }
                    return working();
                })
                .build();
    }

    private Behavior<Command> working() {
        return Behaviors.receive(Command.class)
                .onMessage(Opened.class, m -> answering(() -> onOpened(m)))
                .onMessage(Counted.class, m -> answering(() -> onCounted(m)))
                .onMessage(Applied.class, m -> answering(() -> onApplied(m)))
                .onSignal(ChildFailed.class, failed -> {
                    replyTo.tell(new Solved(Double.NaN, List.of(), failed.getRef().path().name() + " failed: "
                            + failed.getCause()));
                    return Behaviors.stopped();
                })
                .build();
    }

    /** Runs a step; if it fails, the shot fails with an answer (the caller must never wait for one in vain). */
    private Behavior<Command> answering(Supplier<Behavior<Command>> step) {
        try {
            return step.get();
        } catch (RuntimeException e) {
            replyTo.tell(new Solved(Double.NaN, List.of(), "the coordinator failed: " + e));
            return Behaviors.stopped();
        }
    }

    private Behavior<Command> onOpened(Opened m) {
        if (++opened == workers.size()) {
            search = new ThresholdSearch(target);
            nextRound();
        }
        return Behaviors.same();
    }

    private void nextRound() {
        if (search.done()) {
            tau = search.threshold();
            workers.forEach(w -> w.tell(new PruneWorker.Apply(tau, context.getSelf())));
            return;
        }
        round++;
        tau = search.candidate();
        counted = 0;
        count = 0;
        workers.forEach(w -> w.tell(new PruneWorker.Count(round, tau, context.getSelf())));
    }

    private Behavior<Command> onCounted(Counted m) {
        if (m.round() != round) {
            return Behaviors.same();
        }
        count += m.count();
        if (++counted == workers.size()) {
            search.counted(count);
            nextRound();
        }
        return Behaviors.same();
    }

    private Behavior<Command> onApplied(Applied m) {
        List<Integer> mine = unitsOf(m.worker());
        for (int i = 0; i < mine.size(); i++) {
            reports[mine.get(i)] = m.reports().get(i);
        }
        if (++applied == workers.size()) {
            replyTo.tell(new Solved(tau, Arrays.asList(reports), ""));
            return Behaviors.stopped();
        }
        return Behaviors.same();
    }
}
