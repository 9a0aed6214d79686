package dev.lancet.engine.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.List;

/**
 * The layout's part of config.json. Uniform sizes sit in the stock Hugging Face keys (named by the family's
 * {@link ShapeKeys}); a pruned model with uneven blocks adds {@code lancet.layers}, one
 * {@code {"heads", "kv_heads", "intermediate"}} per block (the stock keys then hold block 0's). {@code head_dim}
 * is one value for the model and is always written, since after dropped heads it no longer equals
 * hidden_size / heads. A model whose norms are folded into its linears (SliceGPT) says so with
 * {@code "lancet": {"norms": "fused"}}, always lists its layers, each with its residual widths
 * {@code residual_in}, {@code residual_mid}, {@code residual_out}, and has its own head
 * ({@code tie_word_embeddings: false}). Any other model's residual width is hidden_size, rewritten from the layout
 * (smaller after LLM-Pruner's hidden channels go).
 */
public final class LayoutConfig {

    /** config.json keys of a family's block sizes; {@code kvHeads} is null where key/value heads equal heads. */
    public record ShapeKeys(String heads, String kvHeads, String intermediate) {
    }

    static final String LAYERS = "num_hidden_layers";
    static final String HEAD_DIM = "head_dim";
    private static final String HIDDEN = "hidden_size";
    /** OPT's embedding width, equal to hidden_size unless the model has project_in/out. */
    private static final String EMBED_WIDTH = "word_embed_proj_dim";
    private static final String NORMS = "norms";
    private static final String FUSED = "fused";
    private static final List<String> RESIDUAL_KEYS = List.of("residual_in", "residual_mid", "residual_out");

    private LayoutConfig() {
    }

    public static ModelLayout read(ConfigReader c, ModelConfig config, ShapeKeys keys, TensorNames names) {
        int layers = c.requireInt(LAYERS);
        int heads = c.requireInt(keys.heads());
        int kvHeads = keys.kvHeads() == null ? heads : c.optInt(keys.kvHeads(), heads);
        if (heads % kvHeads != 0) {
            throw c.error(keys.heads() + " " + heads + " is not a multiple of " + keys.kvHeads() + " " + kvHeads);
        }
        if (!c.has(HEAD_DIM) && config.hiddenSize() % heads != 0) {
            throw c.error("hidden_size " + config.hiddenSize() + " is not divisible by " + keys.heads() + " " + heads);
        }
        int headDim = c.optInt(HEAD_DIM, config.hiddenSize() / heads);
        if (config.positions() == ModelConfig.Positions.ROTARY && headDim % 2 != 0) {
            throw c.error("head_dim " + headDim + " must be even for rotary embeddings");
        }
        int intermediate = c.requireInt(keys.intermediate());
        JsonNode perLayer = c.json().path("lancet").path("layers");
        if (!perLayer.isMissingNode() && (!perLayer.isArray() || perLayer.size() != layers)) {
            throw c.error("'lancet.layers' must list " + layers + " layers");
        }
        JsonNode norms = c.json().path("lancet").path(NORMS);
        if (!norms.isMissingNode() && !norms.asText().equals(FUSED)) {
            throw c.error("'lancet.norms' must be \"" + FUSED + "\", got " + norms);
        }
        boolean fused = !norms.isMissingNode();
        if (fused && config.tiedHead()) {
            throw c.error("a model with fused norms has its own head: tie_word_embeddings must be false");
        }
        List<BlockLayout> blocks = new ArrayList<>();
        for (int i = 0; i < layers; i++) {
            JsonNode layer = perLayer.path(i);
            int h = blockSize(c, layer, "heads", heads);
            int kv = keys.kvHeads() == null ? h : blockSize(c, layer, "kv_heads", kvHeads);
            int[] residual = RESIDUAL_KEYS.stream().mapToInt(k -> blockSize(c, layer, k, config.hiddenSize())).toArray();
            try {
                blocks.add(BlockLayout.of(config, names, i, h, kv, headDim,
                        blockSize(c, layer, "intermediate", intermediate), residual[0], residual[1], residual[2],
                        fused ? ModelConfig.NormKind.FUSED_RMS_NORM : config.norm()));
            } catch (IllegalArgumentException e) {
                throw c.error("'lancet.layers' entry " + i + ": " + e.getMessage());
            }
        }
        if (!fused && blocks.stream().anyMatch(b -> b.residualIn() != config.hiddenSize()
                || b.residualMid() != config.hiddenSize() || b.residualOut() != config.hiddenSize())) {
            throw c.error("'lancet.layers': residual widths other than hidden_size need \"lancet.norms\": \""
                    + FUSED + "\"");
        }
        try {
            return new ModelLayout(blocks);
        } catch (IllegalArgumentException e) {
            throw c.error("'lancet.layers': " + e.getMessage());
        }
    }

    private static int blockSize(ConfigReader c, JsonNode layer, String key, int fallback) {
        JsonNode node = layer.path(key);
        if (node.isMissingNode()) {
            return fallback;
        }
        if (!node.canConvertToInt() || node.asInt() <= 0) {
            throw c.error("'lancet.layers': '" + key + "' must be a positive integer, got " + node);
        }
        return node.asInt();
    }

    /** Writes {@code layout} into a copy of a config.json of the same family. */
    public static ObjectNode write(JsonNode source, ModelLayout layout, ShapeKeys keys) {
        ObjectNode json = source.deepCopy();
        BlockLayout first = layout.block(0);
        if (!layout.fused()) {
            // a model whose hidden channels were removed (LLM-Pruner's channel strategy) is stock-shaped, narrower
            int hidden = layout.embeddingWidth();
            if (json.path(EMBED_WIDTH).asInt(-1) == json.path(HIDDEN).asInt()) {
                json.put(EMBED_WIDTH, hidden);
            }
            json.put(HIDDEN, hidden);
        }
        json.put(LAYERS, layout.numBlocks());
        json.put(keys.heads(), first.heads());
        if (keys.kvHeads() != null) {
            json.put(keys.kvHeads(), first.kvHeads());
        }
        json.put(keys.intermediate(), first.intermediate());
        json.put(HEAD_DIM, first.headDim());
        ObjectNode lancet = json.has("lancet") && json.get("lancet").isObject()
                ? (ObjectNode) json.get("lancet") : json.putObject("lancet");
        if (layout.fused()) {
            json.put("tie_word_embeddings", false);
            lancet.put(NORMS, FUSED);
        } else {
            lancet.remove(NORMS);
        }
        if (layout.uniform() && !layout.fused()) {
            lancet.remove("layers");
        } else {
            ArrayNode layers = lancet.putArray("layers");
            for (BlockLayout b : layout.blocks()) {
                ObjectNode entry = layers.addObject().put("heads", b.heads());
                if (keys.kvHeads() != null) {
                    entry.put("kv_heads", b.kvHeads());
                }
                entry.put("intermediate", b.intermediate());
                if (layout.fused()) {
                    entry.put(RESIDUAL_KEYS.get(0), b.residualIn()).put(RESIDUAL_KEYS.get(1), b.residualMid())
                            .put(RESIDUAL_KEYS.get(2), b.residualOut());
                }
            }
        }
        if (lancet.isEmpty()) {
            json.remove("lancet");
        }
        return json;
    }
}
