package dev.lancet.actors.prune;

import com.google.protobuf.Message;
import dev.lancet.actors.WireMessage;
import dev.lancet.engine.linalg.Workspaces;
import dev.lancet.engine.prune.PruneUnit;
import dev.lancet.engine.prune.UnitReport;
import dev.lancet.proto.ApplyAt;
import dev.lancet.proto.CountAt;
import dev.lancet.proto.OpenUnits;
import java.util.ArrayList;
import java.util.List;
import java.util.function.IntFunction;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorRefResolver;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * Prices and prunes the units it is given, one at a time: opening a unit computes its costs (from the layer's KFAC
 * factors and their inverses, freed as soon as the costs are known), counting answers the coordinator's threshold
 * questions from the costs alone, and applying removes the structures under the threshold and corrects the weights
 * that stay. Blocking work: it runs on {@code lancet.prune.dispatcher}, a thread of its own whose ND4J workspaces
 * are freed when it stops.
 */
public final class PruneWorker {

    public sealed interface Command extends WireMessage permits Open, Count, Apply {
    }

    /** Price these units; answer {@link PruneCoordinator.Opened}. */
    public record Open(List<Integer> units, ActorRef<PruneCoordinator.Command> replyTo) implements Command {
        public Open {
            units = List.copyOf(units);
        }

        @Override
        public Message toProto(ActorRefResolver resolver) {
            return OpenUnits.newBuilder().addAllUnits(units).setReplyTo(resolver.toSerializationFormat(replyTo)).build();
        }
    }

    /** How many weights would the units have removed at τ; answer {@link PruneCoordinator.Counted}. */
    public record Count(long round, double tau, ActorRef<PruneCoordinator.Command> replyTo) implements Command {
        @Override
        public Message toProto(ActorRefResolver resolver) {
            return CountAt.newBuilder().setRound(round).setTau(tau).setReplyTo(resolver.toSerializationFormat(replyTo))
                    .build();
        }
    }

    /** Remove everything with cost ≤ τ; answer {@link PruneCoordinator.Applied}. */
    public record Apply(double tau, ActorRef<PruneCoordinator.Command> replyTo) implements Command {
        @Override
        public Message toProto(ActorRefResolver resolver) {
            return ApplyAt.newBuilder().setTau(tau).setReplyTo(resolver.toSerializationFormat(replyTo)).build();
        }
    }

    private PruneWorker() {
    }

    /**
     * @param index worker number, echoed in its answers
     * @param units opens unit i of the shot (computing its costs)
     */
    public static Behavior<Command> create(int index, IntFunction<PruneUnit> units) {
        return Behaviors.setup(context -> {
            List<PruneUnit> open = new ArrayList<>();
            return Behaviors.receive(Command.class)
                    .onMessage(Open.class, m -> {
                        for (int unit : m.units()) {
                            open.add(units.apply(unit));
                        }
                        m.replyTo().tell(new PruneCoordinator.Opened(index));
                        return Behaviors.same();
                    })
                    .onMessage(Count.class, m -> {
                        long count = 0;
                        for (PruneUnit u : open) {
                            count += u.count(m.tau());
                        }
                        m.replyTo().tell(new PruneCoordinator.Counted(m.round(), count));
                        return Behaviors.same();
                    })
                    .onMessage(Apply.class, m -> {
                        List<UnitReport> reports = new ArrayList<>();
                        for (PruneUnit u : open) {
                            reports.add(u.apply(m.tau()));
                        }
                        m.replyTo().tell(new PruneCoordinator.Applied(index, reports));
                        return Behaviors.same();
                    })
                    .onSignal(PostStop.class, stop -> {
                        open.forEach(PruneUnit::close);
                        // each worker has a thread of its own (a pinned dispatcher): its workspaces go with it
                        Workspaces.releaseThread();
                        return Behaviors.same();
                    })
                    .build();
        });
    }
}
