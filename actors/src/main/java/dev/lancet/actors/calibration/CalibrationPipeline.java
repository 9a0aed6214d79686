package dev.lancet.actors.calibration;

import dev.lancet.engine.curvature.KfacState;
import dev.lancet.engine.model.Transformer;
import dev.lancet.engine.text.CalibrationSource;
import java.time.Duration;
import java.util.concurrent.CompletionStage;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.javadsl.AskPattern;

/** Starts a calibration run in an actor system and completes with the collected curvature. */
public final class CalibrationPipeline {

    private CalibrationPipeline() {
    }

    /** The coordinator of the run, spawned under {@code /system/<name>}; its children are named layer-i. */
    public static ActorRef<CalibrationCoordinator.Command> spawn(ActorSystem<?> system, String name, Transformer model,
                                                                  CalibrationSource source,
                                                                  CalibrationCoordinator.Settings settings,
                                                                  SnapshotStore store, KfacState base,
                                                                  ActorRef<CalibrationCoordinator.Progress> progress) {
        return system.systemActorOf(CalibrationCoordinator.create(model, source, settings, store, base, progress),
                name, Props.empty());
    }

    public static CompletionStage<KfacState> start(ActorSystem<?> system, ActorRef<CalibrationCoordinator.Command> run) {
        return AskPattern.<CalibrationCoordinator.Command, CurvatureActor.Collected>ask(run,
                        CalibrationCoordinator.Start::new, Duration.ofDays(30), system.scheduler())
                .thenApply(CurvatureActor.Collected::toState);
    }
}
