package dev.lancet.actors.prune;

import com.google.protobuf.Message;
import dev.lancet.actors.WireMessage;
import dev.lancet.engine.linalg.Workspaces;
import dev.lancet.engine.prune.PruneUnit;
import dev.lancet.engine.prune.UnitReport;
import dev.lancet.proto.ApplyAt;
import dev.lancet.proto.CountAt;
import dev.lancet.proto.OpenUnits;
import dev.lancet.proto.ReleaseUnits;
import dev.lancet.proto.ShotFiles;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorRefResolver;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * Prices and prunes the units it is assigned, one at a time: opening a unit computes its costs (from the layer's KFAC
 * factors and their inverses, freed as soon as the costs are known), counting answers the coordinator's threshold
 * questions from the costs alone, and applying removes the structures under the threshold and corrects the weights
 * that stay. Every question carries the whole assignment and every answer can be given twice, so a worker that lost
 * its state (a cluster entity whose node left) rebuilds it from the next question, and a resent question is harmless.
 * Blocking work: it runs on {@code lancet.prune.dispatcher} (a thread of its own) or, as a cluster entity, on
 * {@code lancet.cluster.worker-dispatcher}; it frees its thread's ND4J workspaces when it stops.
 */
public final class PruneWorker {

    public sealed interface Command extends WireMessage permits Open, Count, Apply, Release {
        Assignment assignment();
    }

    /** Where a worker's units come from: the job's model in this JVM, or a shot's files on a cluster node. */
    @FunctionalInterface
    public interface UnitSource {
        /** Opens unit {@code unit} of the shot (computes its costs); closing it frees what it holds. */
        PruneUnit open(ShotFiles shot, int unit);
    }

    /** The units worker {@code worker} prices in a shot, and the shot's files (empty in the job's own JVM). */
    public record Assignment(int worker, List<Integer> units, ShotFiles shot) {
        public Assignment {
            units = List.copyOf(units);
        }

        public dev.lancet.proto.Assignment toProto() {
            return dev.lancet.proto.Assignment.newBuilder().setWorker(worker).addAllUnits(units).setShot(shot).build();
        }

        public static Assignment fromProto(dev.lancet.proto.Assignment p) {
            return new Assignment(p.getWorker(), p.getUnitsList(), p.getShot());
        }
    }

    /** Price the assigned units; answer {@link PruneCoordinator.Opened}. */
    public record Open(Assignment assignment, ActorRef<PruneCoordinator.Command> replyTo) implements Command {
        @Override
        public Message toProto(ActorRefResolver resolver) {
            return OpenUnits.newBuilder().setAssignment(assignment.toProto())
                    .setReplyTo(resolver.toSerializationFormat(replyTo)).build();
        }
    }

    /** How many weights would the units have removed at τ; answer {@link PruneCoordinator.Counted}. */
    public record Count(long round, double tau, Assignment assignment, ActorRef<PruneCoordinator.Command> replyTo)
            implements Command {
        @Override
        public Message toProto(ActorRefResolver resolver) {
            return CountAt.newBuilder().setRound(round).setTau(tau).setAssignment(assignment.toProto())
                    .setReplyTo(resolver.toSerializationFormat(replyTo)).build();
        }
    }

    /** Remove everything with cost ≤ τ; answer {@link PruneCoordinator.Applied} (the same answer if asked again). */
    public record Apply(double tau, Assignment assignment, ActorRef<PruneCoordinator.Command> replyTo)
            implements Command {
        @Override
        public Message toProto(ActorRefResolver resolver) {
            return ApplyAt.newBuilder().setTau(tau).setAssignment(assignment.toProto())
                    .setReplyTo(resolver.toSerializationFormat(replyTo)).build();
        }
    }

    /** The shot is over: free the units and stop. */
    public record Release(Assignment assignment) implements Command {
        @Override
        public Message toProto(ActorRefResolver resolver) {
            return ReleaseUnits.newBuilder().setAssignment(assignment.toProto()).build();
        }
    }

    private final UnitSource source;
    private final List<PruneUnit> open = new ArrayList<>();
    private Assignment opened;
    private PruneCoordinator.Applied applied;
    private double appliedTau;

    private PruneWorker(UnitSource source) {
        this.source = source;
    }

    public static Behavior<Command> create(UnitSource source) {
        return Behaviors.setup(context -> new PruneWorker(source).behavior());
    }

    private Behavior<Command> behavior() {
        return Behaviors.receive(Command.class)
                .onMessage(Open.class, m -> answer(m.replyTo(), m, a -> new PruneCoordinator.Opened(a.worker())))
                .onMessage(Count.class, m -> answer(m.replyTo(), m, a -> {
                    long count = 0;
                    for (PruneUnit u : open) {
                        count += u.count(m.tau());
                    }
                    return new PruneCoordinator.Counted(m.round(), a.worker(), count);
                }))
                .onMessage(Apply.class, m -> answer(m.replyTo(), m, a -> {
                    if (applied == null || appliedTau != m.tau()) {
                        List<UnitReport> reports = new ArrayList<>();
                        for (PruneUnit u : open) {
                            reports.add(u.apply(m.tau()));
                        }
                        applied = new PruneCoordinator.Applied(a.worker(), reports);
                        appliedTau = m.tau();
                    }
                    return applied;
                }))
                .onMessage(Release.class, m -> {
                    closeUnits();
                    return Behaviors.stopped();
                })
                .onSignal(PostStop.class, stop -> {
                    closeUnits();
                    // the thread's workspaces would otherwise outlive the worker (freed only when a GC finds them)
                    Workspaces.releaseThread();
                    return Behaviors.same();
                })
                .build();
    }

    /**
     * Opens the message's assignment unless it is the one already open, then answers with {@code step}; a failure
     * is answered too (the coordinator must never wait in vain) and leaves nothing open.
     */
    private Behavior<Command> answer(ActorRef<PruneCoordinator.Command> replyTo, Command m,
                                     Function<Assignment, PruneCoordinator.Command> step) {
        Assignment a = m.assignment();
        try {
            if (!a.equals(opened)) {
                closeUnits();
                for (int unit : a.units()) {
                    open.add(source.open(a.shot(), unit));
                }
                opened = a;
            }
            replyTo.tell(step.apply(a));
        } catch (RuntimeException e) {
            closeUnits();
            replyTo.tell(new PruneCoordinator.Failed(a.worker(), e.toString()));
        }
        return Behaviors.same();
    }

    private void closeUnits() {
        open.forEach(PruneUnit::close);
        open.clear();
        opened = null;
        applied = null;
    }
}
