package dev.lancet.actors.cluster;

import dev.lancet.actors.calibration.BlockPool;
import dev.lancet.actors.calibration.CalibrationCoordinator;
import dev.lancet.actors.calibration.LayerActor;
import dev.lancet.engine.model.LinearLayout;
import dev.lancet.engine.model.ModelLayout;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorRefResolver;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.RecipientRef;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * A calibration run's layer actors as Cluster Sharding entities on the worker members, one per block (entity
 * {@code run-block}). Each block has a relay child on the coordinator's member that puts what the coordinator and the
 * gradient worker send into the entity's wire form with the block's run ({@link LayerActor.ToEntity}), copying a
 * fold's arrays out at once so that they go back to the pool before the message leaves, and forwards it. A relay wakes
 * its entity when it starts, so the entities restore and report before the first batch.
 */
final class ShardedLayers implements CalibrationCoordinator.Layers {

    private final ClusterNode node;
    private final String run = UUID.randomUUID().toString();

    ShardedLayers(ClusterNode node) {
        this.node = node;
    }

    @Override
    public List<ActorRef<LayerActor.Command>> start(ActorContext<CalibrationCoordinator.Command> context,
                                                    List<LayerActor.Run> blocks, BlockPool pool) {
        ActorRefResolver resolver = ActorRefResolver.get(context.getSystem());
        return blocks.stream().map(block -> context.spawn(relay(block, node.layer(run + "-" + block.block()), pool,
                resolver), "layer-" + block.block())).toList();
    }

    private static Behavior<LayerActor.Command> relay(LayerActor.Run block, RecipientRef<LayerActor.Command> entity,
                                                      BlockPool pool, ActorRefResolver resolver) {
        return Behaviors.setup(context -> {
            entity.tell(LayerActor.ToEntity.of(block, new LayerActor.Wake(), resolver));
            return Behaviors.receive(LayerActor.Command.class)
                    .onAnyMessage(command -> {
                        try {
                            entity.tell(LayerActor.ToEntity.of(block, command, resolver));
                        } finally {
                            if (command instanceof LayerActor.Fold fold) {
                                pool.giveBack(fold.a(), fold.g());
                            }
                        }
                        return Behaviors.same();
                    })
                    .build();
        });
    }

    @Override
    public Duration resendAfter() {
        return node.resendAfter();
    }

    /**
     * Refuses a run whose largest message would not fit a frame of Artery's large-message lane, where it would be
     * dropped and the run would never end: a layer's a and g for a batch of {@code rows} positions, or a block's
     * sums (fp64, full symmetric).
     */
    static void checkFits(ModelLayout layout, long rows, int bytesPerValue, long maxFrame) {
        for (int b = 0; b < layout.blocks().size(); b++) {
            long sums = 0;
            for (LinearLayout layer : layout.blocks().get(b).linears()) {
                long in = layer.inputsWithBias();
                sums += Double.BYTES * (in * in + (long) layer.out() * layer.out()) + 1024;
                refuseOver(maxFrame, rows * (layer.in() + layer.out()) * bytesPerValue + 1024,
                        layer.name() + "'s activations for a batch");
            }
            refuseOver(maxFrame, sums, "the KFAC sums of block " + b);
        }
    }

    private static void refuseOver(long maxFrame, long bytes, String what) {
        if (bytes > maxFrame) {
            throw new IllegalArgumentException(what + " take " + bytes + " bytes, over pekko.remote.artery.advanced"
                    + ".maximum-large-frame-size (" + maxFrame + "): raise it in the cluster file"
                    + " (or use a smaller --batch)");
        }
    }
}
