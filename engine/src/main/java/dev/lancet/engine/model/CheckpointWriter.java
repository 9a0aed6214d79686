package dev.lancet.engine.model;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.ObjectWriter;
import dev.lancet.engine.io.AtomicFiles;
import dev.lancet.engine.io.CheckpointException;
import dev.lancet.engine.io.DType;
import dev.lancet.engine.io.SafetensorsFile;
import dev.lancet.engine.io.SafetensorsWriter;
import dev.lancet.engine.io.SafetensorsWriter.Entry;
import dev.lancet.engine.io.TensorInfo;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Saves a model as a Hugging Face directory shaped like its source checkpoint: the same tensor names,
 * order and dtypes (so an unchanged model round-trips byte for byte), tokenizer files, and config.json with the
 * model's layout (copied unchanged when the layout is the source's). Tensors the model no longer has (dropped
 * blocks, fused norms) are left out; tensors that were never parameters (e.g. stored buffers) are copied; parameters
 * the source lacks (shortcuts, an untied head) are added after its tensors.
 */
public final class CheckpointWriter {

    private static final ObjectWriter JSON = new ObjectMapper().writerWithDefaultPrettyPrinter();

    private CheckpointWriter() {
    }

    public static void save(Transformer model, Checkpoint source, Path outDir) {
        save(model, source, outDir, null);
    }

    /**
     * Saves with every parameter in {@code dtype} (null: each in its source tensor's dtype), e.g. F32 for checkpoints
     * a run resumes from, which must hold the weights exactly.
     */
    public static void save(Transformer model, Checkpoint source, Path outDir, DType dtype) {
        try {
            Files.createDirectories(outDir);
            List<Entry> entries = new ArrayList<>();
            Map<String, INDArray> parameters = model.parameters();
            Set<String> written = new HashSet<>();
            Map<String, String> metadata = null;
            for (TensorInfo info : source.tensors()) {
                SafetensorsFile shard = source.shardOf(info.name());
                metadata = metadata == null ? shard.metadata() : metadata;
                String name = canonical(info.name(), model.sourceParameters());
                INDArray value = parameters.get(name);
                if (value != null) {
                    entries.add(Entry.ofFloats(info.name(), dtype == null ? info.dtype() : dtype, value.shape(),
                            floats(value)));
                    written.add(name);
                } else if (!model.sourceParameters().contains(name)) {
                    entries.add(Entry.copyOf(shard, info));
                }
            }
            // parameters the source lacks (a fused model's shortcuts, untied head and head bias) follow, in model order
            DType added = dtype != null ? dtype : source.tensors().get(0).dtype();
            for (Map.Entry<String, INDArray> p : parameters.entrySet()) {
                if (!written.contains(p.getKey())) {
                    entries.add(Entry.ofFloats(p.getKey(), added, p.getValue().shape(), floats(p.getValue())));
                }
            }
            SafetensorsWriter.write(outDir.resolve(Checkpoint.WEIGHTS), metadata == null ? Map.of() : metadata,
                    entries);
            copyCompanions(source.dir(), outDir);
            if (!model.layout().equals(source.layout())) {
                AtomicFiles.write(outDir.resolve(Checkpoint.CONFIG), JSON.writeValueAsBytes(
                        LayoutConfig.write(source.configJson(), model.layout(), source.family().shapeKeys())));
            }
        } catch (IOException e) {
            throw new CheckpointException(outDir, "cannot write model: " + e.getMessage());
        }
    }

    /** The parameter name a stored tensor corresponds to, stored with or without the "model." prefix. */
    private static String canonical(String stored, Set<String> sourceParameters) {
        return sourceParameters.contains(stored) ? stored : "model." + stored;
    }

    private static float[] floats(INDArray value) {
        INDArray f = value.dataType() == DataType.FLOAT ? value : value.castTo(DataType.FLOAT);
        return f.dup('c').data().asFloat();
    }

    /** Files of a Hugging Face model directory that travel with the weights unchanged. */
    private static final List<String> COMPANIONS = List.of(Checkpoint.CONFIG, "generation_config.json",
            Checkpoint.TOKENIZER, "tokenizer_config.json", "special_tokens_map.json", "vocab.json", "merges.txt",
            "tokenizer.model");

    private static void copyCompanions(Path from, Path to) throws IOException {
        if (from.toAbsolutePath().normalize().equals(to.toAbsolutePath().normalize())) {
            return;
        }
        for (String name : COMPANIONS) {
            if (Files.isRegularFile(from.resolve(name))) {
                Files.copy(from.resolve(name), to.resolve(name), StandardCopyOption.REPLACE_EXISTING);
            }
        }
    }
}
