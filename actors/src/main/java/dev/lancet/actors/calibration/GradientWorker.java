package dev.lancet.actors.calibration;

import dev.lancet.actors.WireMessage;
import com.google.protobuf.Message;
import dev.lancet.engine.model.Loss;
import dev.lancet.engine.model.TokenBatch;
import dev.lancet.engine.model.Transformer;
import dev.lancet.engine.nn.Backprop;
import dev.lancet.engine.text.CalibrationSource;
import dev.lancet.proto.BatchComputed;
import dev.lancet.proto.ComputeBatch;
import java.util.List;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorRefResolver;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * Runs forward and backward for calibration batches and streams each decoder linear layer's (a, g) to the
 * layer actor of its block as backward reaches it. Blocking work, on {@code lancet.worker-dispatcher}, whose threads
 * keep the step's workspace warm from run to run; a run has several workers, computing different batches side by side.
 */
public final class GradientWorker {

    public sealed interface Command extends WireMessage permits Compute {
    }

    public record Compute(long batch, ActorRef<CalibrationCoordinator.Command> replyTo) implements Command {
        @Override
        public Message toProto(ActorRefResolver resolver) {
            return ComputeBatch.newBuilder().setBatch(batch).setReplyTo(resolver.toSerializationFormat(replyTo)).build();
        }
    }

    private GradientWorker() {
    }

    /** @param layers the layer actor of each decoder block of {@code model}'s layout */
    public static Behavior<Command> create(Transformer model, CalibrationSource source, int batchSize,
                                           List<ActorRef<LayerActor.Command>> layers, BlockPool pool) {
        return Behaviors.receive(Command.class)
                .onMessage(Compute.class, compute -> {
                    TokenBatch batch = source.batch((int) compute.batch(), batchSize);
                    // a and g live in the step's workspace: the message gets copies of its own, in pooled buffers
                    Loss loss = model.lossAndBackward(batch, new Backprop(false,
                            (layer, a, g) -> layers.get(model.layout().blockOf(layer.name())).tell(new LayerActor.Fold(
                                    compute.batch(), layer.name(), pool.copyOf(a), pool.copyOf(g))),
                            batch.labelledRows()));
                    compute.replyTo().tell(new CalibrationCoordinator.Computed(BatchComputed.newBuilder()
                            .setBatch(compute.batch()).setLoss(loss.nllSum()).build()));
                    return Behaviors.same();
                })
                .build();
    }
}
