package dev.lancet.engine.model;

import dev.lancet.engine.model.ModelConfig.NormKind;
import dev.lancet.engine.nn.Attention;
import dev.lancet.engine.nn.DecoderBlock;
import dev.lancet.engine.nn.FeedForward;
import dev.lancet.engine.nn.FusedRmsNorm;
import dev.lancet.engine.nn.LayerNorm;
import dev.lancet.engine.nn.Linear;
import dev.lancet.engine.nn.Norm;
import dev.lancet.engine.nn.PreNormBlock;
import dev.lancet.engine.nn.ShortcutBlock;
import java.util.ArrayList;
import java.util.List;
import java.util.function.UnaryOperator;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * SliceGPT's first step: the same function with every norm's scale γ (and LayerNorm's shift β) folded into the
 * linears that read it, leaving parameter-free RMSNorms ({@link FusedRmsNorm}) that commute with rotations of
 * the residual stream. Computed in fp64, stored in the model's dtype.
 *
 * <ul>
 *   <li>Readers of a norm (q, k, v after the first; gate/up or fc1 after the second; the head after the last):
 *       W ← W diag(γ), b ← b + W β.</li>
 *   <li>LayerNorm models (OPT): LayerNorm(x) = RMSNorm(x − mean x), so whatever writes the residual stream is made
 *       to write zero-mean vectors: the embeddings are centred row by row, and o and fc2 become M W, M b with
 *       M = I − 11ᵀ/D. RMSNorm models (Llama, Qwen2, Mistral) subtract no mean and are not centred (the reference
 *       centres Llama's embeddings anyway and loses perplexity before slicing).</li>
 *   <li>The head is untied from the embedding, whose columns are about to be rotated and cut.</li>
 *   <li>Each block becomes a {@link ShortcutBlock} with identity shortcuts, to be rotated later.</li>
 * </ul>
 */
public final class NormFusion {

    private NormFusion() {
    }

    /** Throws {@link IllegalArgumentException} with a one-line reason when {@code config} has no fusion. */
    public static void requireSupported(ModelConfig config) {
        if (config.normPlacement() != ModelConfig.NormPlacement.PRE_NORM) {
            throw new IllegalArgumentException(config.modelType() + " with post-norm blocks (do_layer_norm_before="
                    + "false) cannot be sliced: its norms sit on the residual stream and do not fold into linears");
        }
        if (config.projectsEmbeddings()) {
            throw new IllegalArgumentException(config.modelType() + " with project_in/out cannot be sliced");
        }
        if (config.norm() == NormKind.LAYER_NORM && (!config.attentionBias() || !config.mlpBias())) {
            throw new IllegalArgumentException(config.modelType() + " without linear biases cannot be sliced: "
                    + "LayerNorm's shift has no bias to fold into");
        }
    }

    /**
     * The fused model, which takes over {@code model}'s weights ({@code model} must not be used afterwards; the
     * weights it no longer needs are freed). A model already fused is returned as it is.
     */
    public static Transformer fuse(Transformer model) {
        if (model.layout().fused()) {
            return model;
        }
        ModelConfig config = model.config();
        requireSupported(config);
        boolean layerNorm = config.norm() == NormKind.LAYER_NORM;
        int hidden = config.hiddenSize();
        DataType dtype = model.dtype();
        TensorNames names = model.names();
        List<DecoderBlock> blocks = new ArrayList<>();
        List<BlockLayout> layouts = new ArrayList<>();
        for (int i = 0; i < model.blocks().size(); i++) {
            PreNormBlock block = (PreNormBlock) model.blocks().get(i);
            Norm n1 = block.attentionNorm();
            Norm n2 = block.feedForwardNorm();
            UnaryOperator<Linear> writer = layerNorm ? NormFusion::centredWriter : UnaryOperator.identity();
            Attention attention = block.attention().mapInputs(l -> reading(l, n1)).mapOutput(writer);
            FeedForward feedForward = block.feedForward().mapInputs(l -> reading(l, n2)).mapOutput(writer);
            blocks.add(new ShortcutBlock(new FusedRmsNorm(n1.name(), hidden, config.normEps()), attention,
                    identity(names.attentionShortcut(i), hidden, dtype),
                    new FusedRmsNorm(n2.name(), hidden, config.normEps()), feedForward,
                    identity(names.mlpShortcut(i), hidden, dtype)));
            BlockLayout shape = model.layout().block(i);
            layouts.add(BlockLayout.of(config, names, i, shape.heads(), shape.kvHeads(), shape.headDim(),
                    shape.intermediate(), hidden, hidden, hidden, NormKind.FUSED_RMS_NORM));
        }
        Norm last = model.finalNorm();
        INDArray head = scaled(model.head(), last.weight(), dtype);
        INDArray headBias = last.bias() == null ? null : shift(model.head(), last.bias(), null, dtype);
        INDArray tokens = layerNorm ? centredRows(model.tokenEmbedding(), dtype) : model.tokenEmbedding();
        INDArray positions = model.positionEmbedding() == null || !layerNorm ? model.positionEmbedding()
                : centredRows(model.positionEmbedding(), dtype);
        Transformer fused = model.withParts(config.withUntiedHead(), new ModelLayout(layouts), tokens, positions, blocks,
                new FusedRmsNorm(last.name(), hidden, config.normEps()), head, headBias);
        model.freeAllBut(fused);
        return fused;
    }

    /** A reader of {@code norm}'s output: W diag(γ), b + W β. */
    private static Linear reading(Linear l, Norm norm) {
        DataType dtype = l.weight().dataType();
        INDArray bias = norm.bias() == null ? l.bias() : shift(l.weight(), norm.bias(), l.bias(), dtype);
        return new Linear(l.name(), scaled(l.weight(), norm.weight(), dtype), bias, l.tracked());
    }

    /** W diag(γ) in fp64, as {@code dtype}. */
    private static INDArray scaled(INDArray w, INDArray gamma, DataType dtype) {
        return fp64(w).muliRowVector(fp64(gamma)).castTo(dtype);
    }

    /** b + W β in fp64 (b null: W β), as {@code dtype}. */
    private static INDArray shift(INDArray w, INDArray beta, INDArray bias, DataType dtype) {
        INDArray wb = fp64(w).mmul(fp64(beta).reshape(beta.length(), 1)).reshape(w.size(0));
        return (bias == null ? wb : wb.addi(fp64(bias))).castTo(dtype);
    }

    /** A writer of the residual stream made to write zero-mean vectors: M W, M b with M = I − 11ᵀ/D. */
    private static Linear centredWriter(Linear l) {
        DataType dtype = l.weight().dataType();
        INDArray w = fp64(l.weight());
        INDArray weight = w.subiRowVector(w.mean(0)).castTo(dtype);
        INDArray bias = null;
        if (l.bias() != null) {
            INDArray b = fp64(l.bias());
            bias = b.subi(b.meanNumber()).castTo(dtype);
        }
        return new Linear(l.name(), weight, bias, l.tracked());
    }

    /** Every row minus its mean (embedding tables, whose rows are residual-stream vectors). */
    private static INDArray centredRows(INDArray table, DataType dtype) {
        INDArray t = fp64(table);
        return t.subiColumnVector(t.mean(1)).castTo(dtype);
    }

    /** A new fp64 copy: castTo returns the array itself when it already is fp64, and the source must stay intact. */
    static INDArray fp64(INDArray a) {
        return a.dataType() == DataType.DOUBLE ? a.dup('c') : a.castTo(DataType.DOUBLE);
    }

    private static Linear identity(String name, int size, DataType dtype) {
        return new Linear(name, Nd4j.eye(size).castTo(dtype), null, false);
    }
}
