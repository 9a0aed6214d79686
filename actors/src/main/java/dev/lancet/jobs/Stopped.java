package dev.lancet.jobs;

import java.util.concurrent.CompletableFuture;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.Terminated;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * Waits for a run's top actor to stop in an actor system that outlives the run (a job's, a cluster member's). An actor
 * stops after its children and after the message each is handling, so once it has stopped no actor of the run still
 * computes on what the caller frees next (the model, a snapshot store).
 */
final class Stopped {

    private final ActorSystem<?> system;
    private final ActorRef<?> run;
    private final CompletableFuture<Void> stopped = new CompletableFuture<>();

    private Stopped(ActorSystem<?> system, ActorRef<?> run, String name) {
        this.system = system;
        this.run = run;
        system.systemActorOf(Behaviors.setup(context -> {
            context.watch(run);
            return Behaviors.receive(Object.class).onSignal(Terminated.class, t -> {
                stopped.complete(null);
                return Behaviors.stopped();
            }).build();
        }), name + "-watch", Props.empty());
    }

    /** Starts watching {@code run}; {@code name} is unique in the system. */
    static Stopped watch(ActorSystem<?> system, ActorRef<?> run, String name) {
        return new Stopped(system, run, name);
    }

    /** Stops the run if it has not stopped itself, and waits until it and its children have. */
    void stopAndAwait() {
        Adapter.toClassic(system).stop(Adapter.toClassic(run));
        stopped.join();
    }
}
