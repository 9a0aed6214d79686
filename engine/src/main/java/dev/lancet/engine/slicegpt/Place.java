package dev.lancet.engine.slicegpt;

import dev.lancet.engine.model.ResidualRotation;
import dev.lancet.engine.model.TokenBatch;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * A place of the residual stream SliceGPT rotates, in the order it visits them: the embeddings' output (block −1),
 * then each block's middle (between attention and MLP) and output. A block's input is the previous place's output.
 */
public record Place(int block, Stage stage) {

    public enum Stage { EMBEDDINGS, MIDDLE, OUTPUT }

    public static Place embeddings() {
        return new Place(-1, Stage.EMBEDDINGS);
    }

    public static Place middle(int block) {
        return new Place(block, Stage.MIDDLE);
    }

    public static Place output(int block) {
        return new Place(block, Stage.OUTPUT);
    }

    /** A name for the place's signal, e.g. {@code model.layers.3.residual_mid}. */
    public String signalName() {
        return switch (stage) {
            case EMBEDDINGS -> "model.embeddings.residual_out";
            case MIDDLE -> "model.layers." + block + ".residual_mid";
            case OUTPUT -> "model.layers." + block + ".residual_out";
        };
    }

    /** The place's width in {@code model} as rotated so far (before this place is). */
    public int width(ResidualRotation model) {
        return switch (stage) {
            case EMBEDDINGS -> model.embeddingWidth();
            case MIDDLE -> model.middleWidth(block);
            case OUTPUT -> model.outputWidth(block);
        };
    }

    /**
     * The place's signal for one batch, [batch·seq, width], computed from the tokens through {@code model} as
     * rotated and sliced so far; only one block's activations are alive at a time.
     */
    public INDArray signal(ResidualRotation model, TokenBatch batch) {
        INDArray x = model.embeddings(batch);
        for (int i = 0; i < (stage == Stage.EMBEDDINGS ? 0 : block); i++) {
            x = next(x, model.output(i, x, batch.batch(), batch.seq()));
        }
        return switch (stage) {
            case EMBEDDINGS -> x;
            case MIDDLE -> next(x, model.middle(block, x, batch.batch(), batch.seq()));
            case OUTPUT -> next(x, model.output(block, x, batch.batch(), batch.seq()));
        };
    }

    private static INDArray next(INDArray previous, INDArray next) {
        previous.close();
        return next;
    }
}
