package dev.lancet.actors.calibration;

import dev.lancet.engine.model.ResidualRotation;
import dev.lancet.engine.model.TokenBatch;
import dev.lancet.engine.slicegpt.Place;
import dev.lancet.engine.text.CalibrationSource;
import dev.lancet.proto.BatchComputed;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * Forward only: computes one SliceGPT place's residual signal for calibration batches, through the model as rotated
 * so far, and hands it to the layer actor that sums its second moment. The signal is the message's own array (the
 * layer actor frees it once folded). It speaks the gradient worker's protocol ({@link GradientWorker.Compute} in,
 * {@link CalibrationCoordinator.Computed} out, without a loss), so the coordinator drives either. Blocking work, on
 * {@code lancet.worker-dispatcher} like {@link GradientWorker}.
 */
public final class SignalWorker {

    private SignalWorker() {
    }

    public static Behavior<GradientWorker.Command> create(ResidualRotation model, Place place, CalibrationSource source,
                                                          int batchSize, ActorRef<LayerActor.Command> layer) {
        return Behaviors.receive(GradientWorker.Command.class)
                .onMessage(GradientWorker.Compute.class, compute -> {
                    TokenBatch batch = source.batch((int) compute.batch(), batchSize);
                    layer.tell(new LayerActor.Fold(compute.batch(), place.signalName(), place.signal(model, batch),
                            null));
                    compute.replyTo().tell(new CalibrationCoordinator.Computed(
                            BatchComputed.newBuilder().setBatch(compute.batch()).build()));
                    return Behaviors.same();
                })
                .build();
    }
}
