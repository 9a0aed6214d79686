package dev.lancet.actors.prune;

import com.google.protobuf.Message;
import dev.lancet.actors.WireMessage;
import dev.lancet.engine.prune.ThresholdSearch;
import dev.lancet.engine.prune.UnitReport;
import dev.lancet.proto.ShotFiles;
import dev.lancet.proto.ShotSolved;
import dev.lancet.proto.SolveShot;
import dev.lancet.proto.UnitsApplied;
import dev.lancet.proto.UnitsFailed;
import dev.lancet.proto.UnitsOpened;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.function.Supplier;
import org.apache.pekko.actor.NoSerializationVerificationNeeded;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorRefResolver;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.ChildFailed;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.actor.typed.RecipientRef;
import org.apache.pekko.actor.typed.Scheduler;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * One shot's global budget: spreads the units over a pool of {@link PruneWorker}s, sets the one threshold τ for the
 * whole model by bisection on the removed counts the workers report for candidate thresholds (no worker ships its
 * costs: unstructured pruning of a 7B model has billions), has the workers apply it, and answers with the threshold
 * and what each unit removed, in unit order. The answer does not depend on the number of workers. A worker that fails
 * fails the shot: weights may be half-corrected, so the caller restarts the shot from its last checkpoint.
 */
public final class PruneCoordinator {

    public sealed interface Command permits Solve, Opened, Counted, Applied, Failed, Resend {
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

    public record Counted(long round, int worker, long count) implements Command, WireMessage {
        @Override
        public Message toProto(ActorRefResolver resolver) {
            return dev.lancet.proto.Counted.newBuilder().setRound(round).setWorker(worker).setCount(count).build();
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

    /** A worker could not open, count or apply its units: the shot fails. */
    public record Failed(int worker, String reason) implements Command, WireMessage {
        @Override
        public Message toProto(ActorRefResolver resolver) {
            return UnitsFailed.newBuilder().setWorker(worker).setReason(reason).build();
        }
    }

    /** Timer: ask again the workers that have not answered the current question. */
    private record Resend() implements Command, NoSerializationVerificationNeeded {
    }

    /** The pool a shot's units are spread over: the coordinator's own children, or entities of a cluster. */
    @FunctionalInterface
    public interface Workers {
        /** The workers for a shot of {@code units} units (at most one per unit). */
        List<RecipientRef<PruneWorker.Command>> start(ActorContext<Command> context, int units);

        /** {@code count} child workers on {@code dispatcher}, opening units from {@code source}. */
        static Workers local(int count, PruneWorker.UnitSource source, DispatcherSelector dispatcher) {
            return (context, units) -> {
                List<RecipientRef<PruneWorker.Command>> workers = new ArrayList<>();
                for (int w = 0; w < Math.min(count, units); w++) {
                    ActorRef<PruneWorker.Command> worker = context.spawn(PruneWorker.create(source), "worker-" + w,
                            dispatcher);
                    context.watch(worker);
                    workers.add(worker);
                }
                return workers;
            };
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

    private enum Phase { OPEN, COUNT, APPLY }

    private final ActorContext<Command> context;
    private final int units;
    private final ShotFiles shot;
    private final List<RecipientRef<PruneWorker.Command>> workers;
    private final boolean[] answered;
    private final UnitReport[] reports;
    private ActorRef<Solved> replyTo;
    private long target;
    private Phase phase;
    private int answers;
    private ThresholdSearch search;
    private long round;
    private double tau;
    private long count;

    private PruneCoordinator(ActorContext<Command> context, int units, Workers workers, ShotFiles shot) {
        this.context = context;
        this.units = units;
        this.shot = shot;
        this.workers = workers.start(context, units);
        this.answered = new boolean[this.workers.size()];
        this.reports = new UnitReport[units];
    }

    /**
     * @param units       units of the shot, numbered 0..units−1
     * @param workers     the pool the units are spread over
     * @param shot        the files cluster workers rebuild their units from (the default instance in one JVM)
     * @param resendAfter how long to wait for answers before asking again (null: never; workers in the coordinator's
     *                    JVM lose no message)
     */
    public static Behavior<Command> create(int units, Workers workers, ShotFiles shot, Duration resendAfter) {
        return Behaviors.setup(context -> {
            PruneCoordinator coordinator = new PruneCoordinator(context, units, workers, shot);
            return resendAfter == null ? coordinator.idle() : Behaviors.withTimers(timers -> {
                timers.startTimerWithFixedDelay(new Resend(), resendAfter);
                return coordinator.idle();
            });
        });
    }

    /** Asks a coordinator to solve its shot for {@code target} and waits for the answer (which may be a failure). */
    public static Solved solve(ActorRef<Command> coordinator, long target, Scheduler scheduler)
            throws InterruptedException {
        try {
            return AskPattern.<Command, Solved>ask(coordinator, reply -> new Solve(target, reply), Duration.ofDays(30),
                    scheduler).toCompletableFuture().get();
        } catch (ExecutionException e) {
            throw new IllegalStateException("pruning failed: " + e.getCause(), e.getCause());
        }
    }

    /** Units of worker w: every workers.size()-th, from w on, so the split depends only on the pool size. */
    private PruneWorker.Assignment assignment(int worker) {
        List<Integer> mine = new ArrayList<>();
        for (int u = worker; u < units; u += workers.size()) {
            mine.add(u);
        }
        return new PruneWorker.Assignment(worker, mine, shot);
    }

    private Behavior<Command> idle() {
        return Behaviors.receive(Command.class)
                .onMessage(Solve.class, solve -> {
                    replyTo = solve.replyTo();
                    target = solve.target();
                    ask(Phase.OPEN);
                    return working();
                })
                .onMessage(Resend.class, m -> Behaviors.same())
                .build();
    }

    private Behavior<Command> working() {
        return Behaviors.receive(Command.class)
                .onMessage(Opened.class, m -> answering(() -> onOpened(m)))
                .onMessage(Counted.class, m -> answering(() -> onCounted(m)))
                .onMessage(Applied.class, m -> answering(() -> onApplied(m)))
                .onMessage(Failed.class, m -> fail("worker-" + m.worker() + " failed: " + m.reason()))
                .onMessage(Resend.class, m -> {
                    for (int w = 0; w < workers.size(); w++) {
                        if (!answered[w]) {
                            workers.get(w).tell(question(w));
                        }
                    }
                    return Behaviors.same();
                })
                .onSignal(ChildFailed.class, failed -> fail(failed.getRef().path().name() + " failed: "
                        + failed.getCause()))
                .build();
    }

    private Behavior<Command> fail(String failure) {
        replyTo.tell(new Solved(Double.NaN, List.of(), failure));
        release();
        return Behaviors.stopped();
    }

    /** Runs a step; if it fails, the shot fails with an answer (the caller must never wait for one in vain). */
    private Behavior<Command> answering(Supplier<Behavior<Command>> step) {
        try {
            return step.get();
        } catch (RuntimeException e) {
            return fail("the coordinator failed: " + e);
        }
    }

    /** Asks every worker the current phase's question. */
    private void ask(Phase next) {
        phase = next;
        answers = 0;
        Arrays.fill(answered, false);
        for (int w = 0; w < workers.size(); w++) {
            workers.get(w).tell(question(w));
        }
    }

    private PruneWorker.Command question(int worker) {
        PruneWorker.Assignment a = assignment(worker);
        return switch (phase) {
            case OPEN -> new PruneWorker.Open(a, context.getSelf());
            case COUNT -> new PruneWorker.Count(round, tau, a, context.getSelf());
            case APPLY -> new PruneWorker.Apply(tau, a, context.getSelf());
        };
    }

    /** Whether this is the first answer of {@code worker} to the current question; all answers then complete it. */
    private boolean firstAnswer(Phase of, int worker) {
        if (phase != of || answered[worker]) {
            return false;
        }
        answered[worker] = true;
        answers++;
        return true;
    }

    private Behavior<Command> onOpened(Opened m) {
        if (firstAnswer(Phase.OPEN, m.worker()) && answers == workers.size()) {
            search = new ThresholdSearch(target);
            nextRound();
        }
        return Behaviors.same();
    }

    private void nextRound() {
        if (search.done()) {
            tau = search.threshold();
            ask(Phase.APPLY);
            return;
        }
        round++;
        tau = search.candidate();
        count = 0;
        ask(Phase.COUNT);
    }

    private Behavior<Command> onCounted(Counted m) {
        if (m.round() != round || !firstAnswer(Phase.COUNT, m.worker())) {
            return Behaviors.same();
        }
        count += m.count();
        if (answers == workers.size()) {
            search.counted(count);
            nextRound();
        }
        return Behaviors.same();
    }

    private Behavior<Command> onApplied(Applied m) {
        if (!firstAnswer(Phase.APPLY, m.worker())) {
            return Behaviors.same();
        }
        List<Integer> mine = assignment(m.worker()).units();
        for (int i = 0; i < mine.size(); i++) {
            reports[mine.get(i)] = m.reports().get(i);
        }
        if (answers == workers.size()) {
            replyTo.tell(new Solved(tau, Arrays.asList(reports), ""));
            release();
            return Behaviors.stopped();
        }
        return Behaviors.same();
    }

    /** Frees the workers' units: cluster entities hold them until told. */
    private void release() {
        for (int w = 0; w < workers.size(); w++) {
            workers.get(w).tell(new PruneWorker.Release(assignment(w)));
        }
    }
}
