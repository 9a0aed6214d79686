package dev.lancet.engine.model;

import static org.nd4j.linalg.indexing.NDArrayIndex.interval;

import dev.lancet.engine.linalg.Blas;
import dev.lancet.engine.linalg.Workspaces;
import dev.lancet.engine.model.ModelConfig.LayerShape;
import dev.lancet.engine.model.TensorNames.LinearRole;
import dev.lancet.engine.nn.Attention;
import dev.lancet.engine.nn.Backprop;
import dev.lancet.engine.nn.DecoderBlock;
import dev.lancet.engine.nn.FeedForward;
import dev.lancet.engine.nn.GatedMlp;
import dev.lancet.engine.nn.LayerNorm;
import dev.lancet.engine.nn.Linear;
import dev.lancet.engine.nn.Norm;
import dev.lancet.engine.nn.PostNormBlock;
import dev.lancet.engine.nn.PreNormBlock;
import dev.lancet.engine.nn.ReluMlp;
import dev.lancet.engine.nn.RmsNorm;
import dev.lancet.engine.nn.Rope;
import dev.lancet.engine.nn.Softmax;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.nd4j.linalg.api.buffer.DataBuffer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * A decoder-only causal LM (OPT, Llama and its descendants) on ND4J: embeddings → blocks → final norm (none
 * after post-norm blocks) → head, with a hand-written backward of the summed next-token NLL. All arrays share
 * one dtype (FLOAT, or DOUBLE for gradient checks).
 */
public final class Transformer {

    /** Workspaces: a whole forward (+ backward) step, and the nested scope of one block or the head. */
    private static final String FORWARD = "lancet-forward";
    private static final String STEP = "lancet-step";
    private static final String BLOCK = "lancet-block";

    private final ModelConfig config;
    private final DataType dtype;
    private final INDArray tokenEmbedding;
    /** OPT's learned position table (offset 2), else null. */
    private final INDArray positionEmbedding;
    private final Linear projectIn;
    private final Linear projectOut;
    private final List<DecoderBlock> blocks;
    /** Null when the blocks are post-norm: the last one already ends on a norm. */
    private final Norm finalNorm;
    private final INDArray head;
    /** Every parameter by CausalLM tensor name (tied head listed once, as the embedding). */
    private final Map<String, INDArray> parameters;

    private Transformer(ModelConfig config, DataType dtype, INDArray tokenEmbedding, INDArray positionEmbedding,
                        Linear projectIn, Linear projectOut, List<DecoderBlock> blocks, Norm finalNorm, INDArray head,
                        Map<String, INDArray> parameters) {
        this.config = config;
        this.dtype = dtype;
        this.tokenEmbedding = tokenEmbedding;
        this.positionEmbedding = positionEmbedding;
        this.projectIn = projectIn;
        this.projectOut = projectOut;
        this.blocks = blocks;
        this.finalNorm = finalNorm;
        this.head = head;
        this.parameters = Collections.unmodifiableMap(parameters);
    }

    /** Builds the model from a checkpoint, converting every tensor to {@code dtype}. */
    public static Transformer load(Checkpoint checkpoint, DataType dtype) {
        return new Loader(checkpoint, dtype).build();
    }

    public ModelConfig config() {
        return config;
    }

    public DataType dtype() {
        return dtype;
    }

    public List<DecoderBlock> blocks() {
        return blocks;
    }

    /** The decoder's linear layers, block by block, in execution order. */
    public List<Linear> linears() {
        List<Linear> all = new ArrayList<>();
        blocks.forEach(b -> all.addAll(b.linears()));
        return all;
    }

    public Map<String, INDArray> parameters() {
        return parameters;
    }

    /** Logits [batch·seq, vocab]. */
    public INDArray logits(TokenBatch batch) {
        try (MemoryWorkspace ignored = Workspaces.open(FORWARD)) {
            return forwardLogits(batch).detach();
        }
    }

    /** Summed NLL over the labelled positions, forward only. */
    public Loss loss(TokenBatch batch) {
        try (MemoryWorkspace ignored = Workspaces.open(FORWARD)) {
            return new Loss(softmaxNll(forwardLogits(batch), batch), batch.labelledTokens());
        }
    }

    /**
     * Forward and backward of the summed next-token NLL. Each decoder linear layer is reported to
     * {@code backprop} (its {@code a}, {@code g} and, if asked, its weight gradient) as backward reaches it.
     */
    public Loss lossAndBackward(TokenBatch batch, Backprop backprop) {
        try (MemoryWorkspace ignored = Workspaces.open(STEP)) {
            return step(batch, backprop);
        }
    }

    private Loss step(TokenBatch batch, Backprop backprop) {
        int b = batch.batch();
        int t = batch.seq();
        INDArray x = embed(batch);
        List<DecoderBlock.State> states = new ArrayList<>(blocks.size());
        for (DecoderBlock block : blocks) {
            DecoderBlock.State state = block.forward(x, b, t);
            states.add(state);
            x = state.output();
        }
        Norm.State finalState = finalNorm == null ? null : finalNorm.forward(x);
        INDArray normalized = finalState == null ? x : finalState.output();
        double[] nll = new double[1];
        // the vocabulary-wide logits and their gradient are the largest temporaries: free them before the blocks
        INDArray dx = Workspaces.nested(BLOCK, STEP, () -> {
            INDArray probs = headLogits(normalized);
            nll[0] = softmaxNll(probs, batch);
            INDArray dProjected = Blas.gemm(softmaxMinusOneHot(probs, batch), false, head, false);
            INDArray dNormalized = projectOut == null ? dProjected : projectOut.backward(normalized, dProjected, backprop);
            return finalState == null ? dNormalized : finalNorm.backward(finalState, dNormalized);
        });
        for (int i = blocks.size() - 1; i >= 0; i--) {
            DecoderBlock block = blocks.get(i);
            DecoderBlock.State state = states.set(i, null);
            INDArray dy = dx;
            dx = Workspaces.nested(BLOCK, STEP, () -> block.backward(state, dy, backprop, b, t));
        }
        return new Loss(nll[0], batch.labelledTokens());
    }

    private INDArray embed(TokenBatch batch) {
        if (batch.seq() > config.maxPositions()) {
            throw new IllegalArgumentException("sequence length " + batch.seq() + " exceeds max_position_embeddings "
                    + config.maxPositions());
        }
        if (batch.seq() > config.slidingWindow()) {
            throw new IllegalArgumentException("sequence length " + batch.seq() + " exceeds sliding_window "
                    + config.slidingWindow() + ", and sliding-window attention is not implemented");
        }
        INDArray x = Nd4j.pullRows(tokenEmbedding, 1, batch.ids());
        if (projectIn != null) {
            x = projectIn.forward(x);
        }
        if (positionEmbedding != null) {
            INDArray positions = positionEmbedding.get(interval(2, 2 + batch.seq()));
            x.reshape('c', batch.batch(), batch.seq(), config.hiddenSize()).addi(positions);
        }
        return x;
    }

    /** Logits in the active {@link #FORWARD} workspace; each block's temporaries are recycled when it ends. */
    private INDArray forwardLogits(TokenBatch batch) {
        INDArray x = embed(batch);
        for (DecoderBlock block : blocks) {
            INDArray input = x;
            x = Workspaces.nested(BLOCK, FORWARD, () -> block.forward(input, batch.batch(), batch.seq()).output());
        }
        return headLogits(finalNorm == null ? x : finalNorm.forward(x).output());
    }

    private INDArray headLogits(INDArray normalized) {
        INDArray projected = projectOut == null ? normalized : projectOut.forward(normalized);
        return Blas.gemm(projected, false, head, true);
    }

    /** Summed NLL of the labelled positions; leaves softmax(logits) in {@code logits}. */
    private static double softmaxNll(INDArray logits, TokenBatch batch) {
        int[] rows = batch.labelledRows();
        int[] labels = new int[rows.length];
        for (int k = 0; k < rows.length; k++) {
            labels[k] = batch.ids()[rows[k] + 1];
        }
        return Softmax.crossEntropyInPlace(logits, rows, labels);
    }

    /** d(Σ NLL)/d logits = softmax − onehot(label) on labelled rows, 0 on the rest; reuses the buffer. */
    private static INDArray softmaxMinusOneHot(INDArray probs, TokenBatch batch) {
        DataBuffer data = probs.data();
        long vocab = probs.size(1);
        int[] ids = batch.ids();
        for (int row : batch.labelledRows()) {
            long at = row * vocab + ids[row + 1];
            data.put(at, data.getDouble(at) - 1.0);
        }
        for (int b = 0; b < batch.batch(); b++) {
            probs.getRow((long) b * batch.seq() + batch.seq() - 1).assign(0);
        }
        return probs;
    }

    /** Reads tensors in the order the config implies, checking each shape. */
    private static final class Loader {
        private final Checkpoint checkpoint;
        private final ModelConfig config;
        private final TensorNames names;
        private final DataType dtype;
        private final Map<String, INDArray> parameters = new LinkedHashMap<>();

        Loader(Checkpoint checkpoint, DataType dtype) {
            this.checkpoint = checkpoint;
            this.config = checkpoint.config();
            this.names = checkpoint.names();
            this.dtype = dtype;
        }

        Transformer build() {
            int hidden = config.hiddenSize();
            INDArray tokens = tensor(names.embedTokens() + ".weight", config.vocabSize(), config.embedSize());
            INDArray positions = config.positions() == ModelConfig.Positions.LEARNED_OFFSET_2
                    ? tensor(names.embedPositions() + ".weight", config.maxPositions() + 2, hidden) : null;
            Linear projectIn = null;
            Linear projectOut = null;
            if (config.projectsEmbeddings()) {
                projectIn = linear(names.projectIn(), hidden, config.embedSize(), false, false);
                projectOut = linear(names.projectOut(), config.embedSize(), hidden, false, false);
            }
            Rope rope = config.positions() == ModelConfig.Positions.ROTARY
                    ? new Rope(config.headDim(), config.ropeTheta(), config.ropeScaling()) : null;
            List<DecoderBlock> blocks = new ArrayList<>();
            for (int i = 0; i < config.numLayers(); i++) {
                blocks.add(block(i, config.layers().get(i), rope));
            }
            Norm finalNorm = config.hasFinalNorm() ? norm(names.finalNorm(), hidden) : null;
            INDArray head = config.tiedHead() ? tokens
                    : tensor(names.head() + ".weight", config.vocabSize(), config.embedSize());
            return new Transformer(config, dtype, tokens, positions, projectIn, projectOut, List.copyOf(blocks),
                    finalNorm, head, parameters);
        }

        private DecoderBlock block(int i, LayerShape shape, Rope rope) {
            int hidden = config.hiddenSize();
            int d = config.headDim();
            boolean qkvBias = config.attentionBias();
            Attention attention = new Attention(
                    linear(names.linear(i, LinearRole.Q), shape.heads() * d, hidden, qkvBias, true),
                    linear(names.linear(i, LinearRole.K), shape.kvHeads() * d, hidden, qkvBias, true),
                    linear(names.linear(i, LinearRole.V), shape.kvHeads() * d, hidden, qkvBias, true),
                    linear(names.linear(i, LinearRole.O), hidden, shape.heads() * d, config.outputBias(), true),
                    shape.heads(), shape.kvHeads(), d, rope);
            int m = shape.intermediate();
            boolean bias = config.mlpBias();
            FeedForward feedForward = switch (config.feedForward()) {
                case RELU -> new ReluMlp(linear(names.linear(i, LinearRole.UP), m, hidden, bias, true),
                        linear(names.linear(i, LinearRole.DOWN), hidden, m, bias, true));
                case SILU_GATED -> new GatedMlp(linear(names.linear(i, LinearRole.GATE), m, hidden, bias, true),
                        linear(names.linear(i, LinearRole.UP), m, hidden, bias, true),
                        linear(names.linear(i, LinearRole.DOWN), hidden, m, bias, true));
            };
            Norm attentionNorm = norm(names.attentionNorm(i), hidden);
            Norm feedForwardNorm = norm(names.feedForwardNorm(i), hidden);
            return switch (config.normPlacement()) {
                case PRE_NORM -> new PreNormBlock(attentionNorm, attention, feedForwardNorm, feedForward);
                case POST_NORM -> new PostNormBlock(attentionNorm, attention, feedForwardNorm, feedForward);
            };
        }

        private Linear linear(String name, int out, int in, boolean bias, boolean tracked) {
            return new Linear(name, tensor(name + ".weight", out, in), bias ? tensor(name + ".bias", out) : null,
                    tracked);
        }

        private Norm norm(String name, int size) {
            INDArray weight = tensor(name + ".weight", size);
            return switch (config.norm()) {
                case LAYER_NORM -> new LayerNorm(name, weight, tensor(name + ".bias", size), config.normEps());
                case RMS_NORM -> new RmsNorm(name, weight, config.normEps());
            };
        }

        private INDArray tensor(String name, long... shape) {
            INDArray array = checkpoint.load(name, dtype, shape);
            parameters.put(name, array);
            return array;
        }
    }
}
