package dev.lancet.actors.calibration;

import dev.lancet.engine.curvature.KfacState;
import dev.lancet.engine.linalg.Workspaces;
import dev.lancet.engine.model.Transformer;
import dev.lancet.engine.text.CalibrationSource;
import java.time.Duration;
import java.util.concurrent.CompletionStage;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.nd4j.linalg.api.ndarray.INDArray;

/** Starts a calibration run in an actor system and completes with the collected sums. */
public final class CalibrationPipeline {

    private CalibrationPipeline() {
    }

    /** A KFAC run over {@code model}'s decoder linears ({@link CalibrationWork#curvature}). */
    public static ActorRef<CalibrationCoordinator.Command> spawn(ActorSystem<?> system, String name, Transformer model,
                                                                  CalibrationSource source,
                                                                  CalibrationCoordinator.Settings settings,
                                                                  SnapshotStore store, KfacState base,
                                                                  ActorRef<CalibrationCoordinator.Progress> progress) {
        return spawn(system, name, CalibrationWork.curvature(model), CalibrationCoordinator.Layers.local(), source,
                settings, store, base, progress);
    }

    /**
     * The coordinator of the run, spawned under {@code /system/<name>}; its children are named layer-i (the layer
     * actors, or what forwards to them). It stops once it has answered.
     */
    public static ActorRef<CalibrationCoordinator.Command> spawn(ActorSystem<?> system, String name, CalibrationWork work,
                                                                  CalibrationCoordinator.Layers layers,
                                                                  CalibrationSource source,
                                                                  CalibrationCoordinator.Settings settings,
                                                                  SnapshotStore store, KfacState base,
                                                                  ActorRef<CalibrationCoordinator.Progress> progress) {
        return system.systemActorOf(CalibrationCoordinator.create(work, layers, source, settings, store, base,
                progress), name, Props.empty());
    }

    /** Completes with the KFAC state of a curvature run. */
    public static CompletionStage<KfacState> start(ActorSystem<?> system, ActorRef<CalibrationCoordinator.Command> run) {
        return collect(system, run).thenApply(BlockSums::toState);
    }

    /** Completes with the Σ xxᵀ (fp64, full symmetric, outside any workspace) of a one-signal second-moment run. */
    public static CompletionStage<INDArray> secondMoment(ActorSystem<?> system,
                                                         ActorRef<CalibrationCoordinator.Command> run) {
        return collect(system, run).thenApply(sums -> {
            try (sums) {
                return Workspaces.outside(() -> sums.layers().get(0).factor().sumA());
            }
        });
    }

    private static CompletionStage<BlockSums> collect(ActorSystem<?> system, ActorRef<CalibrationCoordinator.Command> run) {
        return AskPattern.<CalibrationCoordinator.Command, CurvatureActor.Collected>ask(run,
                        CalibrationCoordinator.Start::new, Duration.ofDays(30), system.scheduler())
                .thenApply(CurvatureActor.Collected::state);
    }
}
