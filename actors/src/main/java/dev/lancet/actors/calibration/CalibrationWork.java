package dev.lancet.actors.calibration;

import dev.lancet.engine.curvature.KfacFactor;
import dev.lancet.engine.model.BlockLayout;
import dev.lancet.engine.model.ModelLayout;
import dev.lancet.engine.model.ResidualRotation;
import dev.lancet.engine.model.Transformer;
import dev.lancet.engine.slicegpt.Place;
import dev.lancet.engine.text.CalibrationSource;
import java.util.List;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;

/**
 * What a calibration run sums and how: the factors of each layer actor, and the worker that computes each batch and
 * streams its blocks to them. The coordinator, the layer actors' snapshots, replays and merging are the same for
 * every kind of work.
 */
public record CalibrationWork(List<List<KfacFactor.Shape>> blocks, Worker worker) {

    /** The worker's behavior, given what it reads and the layer actor of each block. */
    @FunctionalInterface
    public interface Worker {
        Behavior<GradientWorker.Command> create(CalibrationSource source, int batchSize,
                                                List<ActorRef<LayerActor.Command>> layers, BlockPool pool);
    }

    public CalibrationWork {
        blocks = blocks.stream().map(List::copyOf).toList();
    }

    /** KFAC factors of every decoder linear of {@code model}, one layer actor per block, from forward and backward. */
    public static CalibrationWork curvature(Transformer model) {
        return new CalibrationWork(factors(model.layout()), (source, batchSize, layers, pool) ->
                GradientWorker.create(model, source, batchSize, layers, pool));
    }

    /** The KFAC factors of each block's linear layers. */
    public static List<List<KfacFactor.Shape>> factors(ModelLayout layout) {
        return layout.blocks().stream().map(BlockLayout::linears)
                .map(linears -> linears.stream().map(KfacFactor.Shape::of).toList()).toList();
    }

    /**
     * The second moment Σ xxᵀ of one SliceGPT place's signal through {@code model} as rotated so far: one layer actor
     * summing one forward-only factor, fed by forward passes alone.
     */
    public static CalibrationWork secondMoment(ResidualRotation model, Place place) {
        return new CalibrationWork(List.of(List.of(KfacFactor.Shape.secondMoment(place.signalName(),
                place.width(model)))),
                (source, batchSize, layers, pool) -> SignalWorker.create(model, place, source, batchSize, layers.get(0)));
    }
}
