// Per-batch time, resident memory and workspace sizes of the direct calibration loop (fp32 model, fp32 blocks).
//   java -Xss16m -cp "engine/target/classes:$(cat actors/target/classpath.txt)" bench/StepProbe.java MODEL_DIR [windows]
// Run it with the launcher's environment (OMP_WAIT_POLICY=PASSIVE OPENBLAS_THREAD_TIMEOUT=4
// GLIBC_TUNABLES=glibc.malloc.hugetlb=1) to match ./lancet. One line per batch, then one for writing the file.
import dev.lancet.engine.curvature.FactorFile;
import dev.lancet.engine.curvature.KfacState;
import dev.lancet.engine.curvature.Precision;
import dev.lancet.engine.linalg.Workspaces;
import dev.lancet.engine.model.Checkpoint;
import dev.lancet.engine.model.TokenBatch;
import dev.lancet.engine.model.Transformer;
import dev.lancet.engine.nn.Backprop;
import dev.lancet.engine.text.CalibrationSource;
import dev.lancet.engine.text.Tokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.factory.Nd4j;

public class StepProbe {
    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args[0]);
        int windows = args.length > 1 ? Integer.parseInt(args[1]) : 24;
        Path text = Path.of("assets/data/brown/brown.calibration.txt");
        try (Checkpoint checkpoint = Checkpoint.open(dir); Tokenizer tokenizer = Tokenizer.load(checkpoint.tokenizerFile())) {
            Transformer model = Transformer.load(checkpoint, DataType.FLOAT);
            report("loaded", 0);
            KfacState state = KfacState.empty(model.layout());
            report("empty factors", 0);
            CalibrationSource source = CalibrationSource.of(tokenizer, List.of(text), windows, 128,
                    CalibrationSource.Sampling.RANDOM, 0);
            for (int b = 0; b < source.batches(8); b++) {
                long start = System.nanoTime();
                TokenBatch batch = source.batch(b, 8);
                model.lossAndBackward(batch, new Backprop(false, (layer, a, g) -> {
                    try (MemoryWorkspace ignored = Workspaces.open(Workspaces.FOLD)) {
                        state.get(layer.name()).add(a, g, Precision.FP32);
                    }
                }, batch.labelledRows()));
                report("batch " + b, System.nanoTime() - start);
            }
            long start = System.nanoTime();
            FactorFile.write(Files.createTempFile("step-probe", ".safetensors"), state, Precision.FP32);
            report("factor file written", System.nanoTime() - start);
        }
    }

    private static void report(String what, long nanos) throws Exception {
        long rssKib = Files.readAllLines(Path.of("/proc/self/status")).stream().filter(l -> l.startsWith("VmRSS:"))
                .mapToLong(l -> Long.parseLong(l.replaceAll("\\D", ""))).findFirst().orElse(-1);
        StringBuilder workspaces = new StringBuilder();
        for (var w : Nd4j.getWorkspaceManager().getAllWorkspacesForCurrentThread()) {
            workspaces.append(workspaces.length() == 0 ? "" : ",").append('"').append(w.getId()).append("\":")
                    .append(w.getCurrentSize() >> 20);
        }
        System.out.printf("{\"step\":\"%s\",\"seconds\":%.2f,\"rss_mib\":%d,\"workspaces_mib\":{%s}}%n", what, nanos / 1e9,
                rssKib >> 10, workspaces);
    }
}
