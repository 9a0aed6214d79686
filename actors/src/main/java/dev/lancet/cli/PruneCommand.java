package dev.lancet.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValue;
import dev.lancet.engine.io.CheckpointException;
import dev.lancet.engine.prune.Damping;
import dev.lancet.engine.prune.PruneMethod;
import dev.lancet.engine.prune.PruneSettings;
import dev.lancet.engine.prune.Schedule;
import dev.lancet.engine.prune.Structure;
import dev.lancet.engine.text.CalibrationSource.Sampling;
import dev.lancet.jobs.PruneJob;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** Multi-shot pruning: LLM Surgeon and the baselines it is compared with. */
@Command(name = "prune", mixinStandardHelpOptions = true,
        description = "Prune a model in shots. Each shot refreshes the KFAC curvature of the current model, sets one "
                + "threshold on the removal costs of the whole model so that the schedule's fraction of decoder linear "
                + "weights is gone, removes and corrects, evaluates, and saves a checkpoint that --resume continues "
                + "from. The output directory holds the pruned model (loadable by every lancet command), "
                + "pruning-report.json and pruning.png. Output is byte-identical for the same inputs and seed.")
final class PruneCommand implements Callable<Integer> {

    @Option(names = "--model", paramLabel = "DIR", description = "Hugging Face model directory (default: embedded tiny-llama).")
    Path model = Defaults.model();

    @Option(names = "--method", paramLabel = "NAME",
            description = "surgeon (OBS with KFAC curvature and corrections), k-obd (KFAC diagonal, no correction), "
                    + "magnitude (½w², no correction) or sparsegpt (OBS with the input moments only; 2:4 and "
                    + "unstructured). Default: ${DEFAULT-VALUE}.")
    String method = "surgeon";

    @Option(names = "--structure", paramLabel = "NAME",
            description = "groups (heads and MLP channels removed physically), rows-cols (rows and columns of each "
                    + "matrix, zeroed), 2:4 or unstructured (zeroed). Default: ${DEFAULT-VALUE}.")
    String structure = "groups";

    @Option(names = "--target", paramLabel = "S", description = "Fraction of the decoder linear weights removed in the end (default: ${DEFAULT-VALUE}).")
    double target = 0.25;

    @Option(names = "--shots", paramLabel = "T", description = "Shots (default: ${DEFAULT-VALUE}).")
    int shots = 8;

    @Option(names = "--schedule", paramLabel = "NAME", description = "linear (s_t = t·S/T) or cosine (default: ${DEFAULT-VALUE}).")
    String schedule = "linear";

    @Option(names = "--calibration", paramLabel = "FILE", arity = "1..*", description = "Calibration text files (default: the embedded Brown train slice).")
    List<Path> calibration = new ArrayList<>(List.of(Defaults.calibrationText()));

    @Option(names = "--samples", paramLabel = "N", description = "Calibration windows, the same every shot (default: ${DEFAULT-VALUE}).")
    int samples = 128;

    @Option(names = "--seqlen", paramLabel = "L", description = "Tokens per calibration window (default: ${DEFAULT-VALUE}).")
    int seqlen = 128;

    @Option(names = "--sampling", paramLabel = "MODE", description = "random or sequential windows (default: ${DEFAULT-VALUE}).")
    String sampling = "random";

    @Option(names = "--seed", paramLabel = "S", description = "Seed of the random windows (default: ${DEFAULT-VALUE}).")
    long seed = 0;

    @Option(names = "--eval", paramLabel = "FILE", description = "Evaluation text (default: the embedded Brown valid split).")
    Path eval = Defaults.evalText();

    @Option(names = "--eval-seqlen", paramLabel = "L", description = "Tokens per evaluation window (default: ${DEFAULT-VALUE}).")
    int evalSeqlen = 128;

    @Option(names = "--eval-windows", paramLabel = "K",
            description = "Windows measured after each shot (0: all); the dense and the final model are measured on all (default: ${DEFAULT-VALUE}).")
    int evalWindows = 128;

    @Option(names = "--batch", paramLabel = "B", description = "Windows per forward pass (default: ${DEFAULT-VALUE}).")
    int batch = 8;

    @Option(names = "--damp-g", paramLabel = "D", description = "Relative damping of G (default: 0.1 for 2:4 and unstructured, else 0.01).")
    Double dampG;

    @Option(names = "--damp-a", paramLabel = "D", description = "Relative damping of A (default: 0.01).")
    Double dampA;

    @Option(names = "--max-correlate", paramLabel = "N", description = "Weights corrected jointly in one chunk, 2:4 and unstructured (default: 2000).")
    Integer maxCorrelate;

    @Option(names = "--workers", paramLabel = "N", description = "Prune workers (default: lancet.prune.workers, one per core); the output does not depend on it.")
    Integer workers;

    @Option(names = "--lora-between-shots", paramLabel = "STEPS",
            description = "LoRA steps (rank 8) on the calibration windows after each shot, merged before the next "
                    + "curvature pass (0: none; default: ${DEFAULT-VALUE}).")
    int loraBetweenShots = 0;

    @Option(names = "--lora-lr", paramLabel = "LR", description = "Peak learning rate of --lora-between-shots, decaying linearly to 0 (default: ${DEFAULT-VALUE}, the reference's).")
    double loraLr = 1e-4;

    @Option(names = "--out", paramLabel = "DIR", description = "Output directory (default: pruned/<model>-<method>-<structure>-<target>).")
    Path out;

    @Option(names = "--resume", description = "Continue a killed run in --out from its last completed shot.")
    boolean resume;

    @Option(names = "--export", paramLabel = "FORM",
            description = "shrunk (heads and channels removed) or dense (the input's shapes, zeros where groups were removed: stock HF shapes). Default: ${DEFAULT-VALUE}.")
    String export = "shrunk";

    @Option(names = "--job", paramLabel = "FILE.conf",
            description = "HOCON job file whose keys are flag names without dashes (target = 0.5); flags given here override it. Examples in conf/jobs/.")
    Path job;

    @Option(names = "--json", description = "Print one JSON object as the last stdout line.")
    boolean json;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        if (job != null) {
            return fromJobFile().run();
        }
        return run();
    }

    /** A command parsed from the job file's keys followed by this command line's own flags, which win. */
    private PruneCommand fromJobFile() {
        if (!Files.isRegularFile(job)) {
            throw new CheckpointException(job, "job file not found");
        }
        List<String> args = new ArrayList<>();
        try {
            Config config = ConfigFactory.parseFile(job.toFile()).resolve();
            for (Map.Entry<String, ConfigValue> e : config.entrySet()) {
                if (e.getKey().equals("job")) {
                    throw new CheckpointException(job, "a job file cannot name another job file");
                }
                Object value = e.getValue().unwrapped();
                if (value instanceof Boolean b) {
                    if (b) {
                        args.add("--" + e.getKey());
                    }
                    continue;
                }
                args.add("--" + e.getKey());
                if (value instanceof List<?> list) {
                    list.forEach(v -> args.add(v.toString()));
                } else {
                    args.add(value.toString());
                }
            }
        } catch (ConfigException e) {
            throw new CheckpointException(job, "invalid job file: " + e.getMessage());
        }
        // the whole command line, from the top-level command: this command's flags follow its name
        List<String> all = spec.commandLine().getParseResult().originalArgs();
        List<String> own = all.subList(all.indexOf(spec.name()) + 1, all.size());
        for (int i = 0; i < own.size(); i++) {
            if (own.get(i).equals("--job")) {
                i++;
            } else if (!own.get(i).startsWith("--job=")) {
                args.add(own.get(i));
            }
        }
        PruneCommand merged = new PruneCommand();
        CommandLine line = new CommandLine(merged).setOverwrittenOptionsAllowed(true);
        try {
            line.parseArgs(args.toArray(String[]::new));
        } catch (CommandLine.ParameterException e) {
            throw new CheckpointException(job, e.getMessage());
        }
        return merged;
    }

    private int run() throws Exception {
        PruneSettings defaults = PruneSettings.defaults(parse(PruneMethod.class, "--method", method),
                parse(Structure.class, "--structure", structure));
        PruneSettings settings = new PruneSettings(defaults.method(), defaults.structure(),
                new Damping(dampG != null ? dampG : defaults.damping().g(), dampA != null ? dampA : defaults.damping().a()),
                maxCorrelate != null ? maxCorrelate : defaults.maxCorrelate());
        Path output = out != null ? out : Path.of("pruned", String.format(Locale.ROOT, "%s-%s-%s-%d",
                model.toAbsolutePath().normalize().getFileName(), method, structure.replace(":", ""),
                Math.round(100 * target)));
        PruneJob.Spec jobSpec = new PruneJob.Spec(model, settings, target, shots,
                parse(Schedule.class, "--schedule", schedule), calibration, samples, seqlen,
                parse(Sampling.class, "--sampling", sampling), seed, eval, evalSeqlen, evalWindows, batch, output,
                resume, workers != null ? workers : PruneJob.defaultWorkers(),
                parse(PruneJob.Export.class, "--export", export), loraBetweenShots());
        PruneJob.Result result = PruneJob.run(jobSpec, new Progress());
        printTable(result.report());
        System.out.printf(Locale.ROOT, "wrote %s: perplexity %.4f (dense %.4f), %,d parameters left of %,d (%.1f s)%n",
                result.out(), result.perplexity(), result.densePerplexity(), result.paramsAfter(), result.paramsBefore(),
                result.seconds());
        if (json) {
            System.out.println(Json.object("dense_perplexity", result.densePerplexity(), "perplexity", result.perplexity(),
                    "params_before", result.paramsBefore(), "params_after", result.paramsAfter(),
                    "seconds", result.seconds(), "out", result.out().toString()));
        }
        return 0;
    }

    private PruneJob.LoraBetweenShots loraBetweenShots() {
        if (loraBetweenShots < 0) {
            throw new IllegalArgumentException("--lora-between-shots must be >= 0 (0: none), got " + loraBetweenShots);
        }
        return loraBetweenShots == 0 ? null : new PruneJob.LoraBetweenShots(loraBetweenShots, loraLr);
    }

    private static void printTable(JsonNode report) {
        System.out.println(" shot  target  removed  perplexity  calibration  solve  evaluation");
        for (JsonNode s : report.get("shots")) {
            JsonNode seconds = s.get("seconds");
            System.out.printf(Locale.ROOT, "%5d  %5.1f%%  %6.1f%%  %10.4f  %10.1fs  %4.1fs  %9.1fs%n",
                    s.get("shot").asInt(), 100 * s.get("target").asDouble(), 100 * s.get("achieved").asDouble(),
                    s.get("perplexity").asDouble(), seconds.get("calibration").asDouble(),
                    seconds.get("solve").asDouble(), seconds.get("evaluation").asDouble());
        }
    }

    /** "k-obd" → K_OBD, "2:4" → SEMI_2_4, "rows-cols" → ROWS_COLS; the flag's name in the error otherwise. */
    private static <E extends Enum<E>> E parse(Class<E> type, String flag, String value) {
        String name = value.equals("2:4") ? "SEMI_2_4" : value.toUpperCase(Locale.ROOT).replace('-', '_');
        try {
            return Enum.valueOf(type, name);
        } catch (IllegalArgumentException e) {
            List<String> names = new ArrayList<>();
            for (E constant : type.getEnumConstants()) {
                names.add(constant == (Object) Structure.SEMI_2_4 ? "2:4"
                        : constant.name().toLowerCase(Locale.ROOT).replace('_', '-'));
            }
            throw new IllegalArgumentException(flag + " must be one of " + String.join(", ", names) + ", got '"
                    + value + "'");
        }
    }
}
