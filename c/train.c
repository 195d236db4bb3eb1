/* train.c: the MLP of matnet's demo, 784-128-64-10 with ReLU, trained on MNIST in plain C99.

   mnist-train --data DIR [--out DIR [--force]] [--epochs 5] [--batch 128] [--lr 0.1] [--momentum 0.9] [--seed 0]
               [--schedule cosine|constant] [--layers 784,128,64,10] [--train-size N] [--init FILE] [--order FILE]

   DIR holds the four uncompressed MNIST IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte,
   t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte; `matnet data export-idx mnist DIR` writes them from matnet's
   cache).
   Per step, exactly as matnet's Trainer with Momentum(lr, momentum) (no weight decay) and its schedules:
       lr = the schedule after this step's fraction of the epochs (cosine from --lr to 0, or constant);
       x = pixel * (1/255);  z = the layers' forward pass;  L = softmax cross-entropy;  backward;
       v = mu v + g;  theta -= lr v
   --out DIR (made if needed) receives what `matnet train` would write there and `matnet evaluate`, `report` and
   `export` read: model.npz + model.json, metrics.jsonl, steps.json, summary.json, config.toml. As for `matnet
   train`, a folder that already holds a run is refused unless --force, which removes that run's files (its
   report.html and the .png files in figures/ too) and nothing else; an export of the old run left in
   DIR/exported is refused rather than kept beside the new run (see run_folder.c).

   Without --init the weights are He-normal, N(0, 2 / n_in), from this program's own generator, biases 0;
   --init FILE reads them instead: float32, layer by layer W (n_out, n_in) row by row, then b. Without --order
   every epoch's batch order is a fresh permutation; --order FILE reads them: int32, one permutation of the
   training images per epoch. With both from matnet, the losses follow matnet's to float32 rounding. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dense.h"
#include "idx.h"
#include "model_file.h"
#include "relu.h"
#include "rng.h"
#include "run_folder.h"
#include "sgd.h"
#include "softmax_xent.h"

#define MAX_LAYERS 8
#define USAGE "usage: mnist-train --data DIR [--out DIR [--force]] [--epochs 5] [--batch 128] [--lr 0.1] [--momentum 0.9] " \
              "[--seed 0] [--schedule cosine|constant] [--layers 784,128,64,10] [--train-size N] [--init FILE] " \
              "[--order FILE]   (see the top of c/train.c)"

typedef struct {
    const char *data, *out, *init, *order;
    int epochs, batch, seed, train_size, sizes[MAX_LAYERS + 1], n_layers, cosine, force;
    double lr, momentum;
} Options;

static void die(const char *message, const char *what)
{
    fprintf(stderr, "mnist-train: %s%s%s\n", message, what ? ": " : "", what ? what : "");
    exit(1);
}

static void *alloc(size_t n)
{
    void *p = calloc(n > 0 ? n : 1, 1);
    if (p == NULL)
        die("out of memory", NULL);
    return p;
}

static int parse_sizes(const char *text, Options *o)
{
    char *end;
    o->n_layers = -1;
    for (;;) {
        long v = strtol(text, &end, 10);
        if (end == text || v < 1 || v > 100000 || o->n_layers >= MAX_LAYERS)
            return -1;
        o->sizes[++o->n_layers] = (int)v;
        if (*end == '\0')
            return o->n_layers >= 1 ? 0 : -1;
        if (*end != ',')
            return -1;
        text = end + 1;
    }
}

static Options parse(int argc, char **argv)
{
    Options o = {NULL, NULL, NULL, NULL, 5, 128, 0, 0, {784, 128, 64, 10}, 3, 1, 0, 0.1, 0.9};
    int i;
    for (i = 1; i < argc; i++) {
        const char *key = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(key, "-h") == 0 || strcmp(key, "--help") == 0) {
            printf("%s\n", USAGE);
            exit(0);
        }
        if (strcmp(key, "--force") == 0) {
            o.force = 1;
            continue;
        }
        if (value == NULL)
            die("a value must follow", key);
        i++;
        if (strcmp(key, "--data") == 0) o.data = value;
        else if (strcmp(key, "--out") == 0) o.out = value;
        else if (strcmp(key, "--init") == 0) o.init = value;
        else if (strcmp(key, "--order") == 0) o.order = value;
        else if (strcmp(key, "--epochs") == 0) o.epochs = atoi(value);
        else if (strcmp(key, "--batch") == 0) o.batch = atoi(value);
        else if (strcmp(key, "--seed") == 0) o.seed = atoi(value);
        else if (strcmp(key, "--train-size") == 0) o.train_size = atoi(value);
        else if (strcmp(key, "--lr") == 0) o.lr = atof(value);
        else if (strcmp(key, "--momentum") == 0) o.momentum = atof(value);
        else if (strcmp(key, "--schedule") == 0) {
            if (strcmp(value, "cosine") != 0 && strcmp(value, "constant") != 0)
                die("--schedule is cosine or constant", value);
            o.cosine = strcmp(value, "cosine") == 0;
        } else if (strcmp(key, "--layers") == 0) {
            if (parse_sizes(value, &o) != 0)
                die("--layers takes sizes such as 784,128,64,10", value);
        } else
            die("unknown option (see --help)", key);
    }
    if (o.data == NULL)
        die(USAGE, NULL);
    if (o.epochs < 1 || o.batch < 1 || o.train_size < 0 || !(o.lr > 0.0) || !(o.momentum >= 0.0 && o.momentum < 1.0))
        die("--epochs and --batch must be positive, --lr > 0, 0 <= --momentum < 1, --train-size >= 0", NULL);
    if (o.force && o.out == NULL)
        die("--force replaces the run in --out: give --out too", NULL);
    if (o.out != NULL && run_folder_check(o.out, o.force) != 0)
        exit(1);
    return o;
}

/* The learning rate after `progress` epochs (matnet's schedules): constant, or cosine from lr down to 0 at the
   last step, lr (1 + cos(pi progress / epochs)) / 2. */
static double learning_rate(const Options *o, double progress)
{
    const double pi = 3.14159265358979323846;
    return o->cosine ? o->lr * (1.0 + cos(pi * progress / o->epochs)) / 2.0 : o->lr;
}

static void load(const char *dir, const char *name, Idx *idx)
{
    char path[1100];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (idx_read(path, idx) != 0)
        exit(1);
}

/* Read exactly n items of size bytes from path (a raw little-endian file written by matnet's side). */
static void read_raw(const char *path, void *out, size_t size, size_t n)
{
    FILE *f = fopen(path, "rb");
    int extra;
    if (f == NULL)
        die("cannot open", path);
    if (fread(out, size, n, f) != n)
        die("the file holds fewer values than the network or the run needs", path);
    extra = fgetc(f) != EOF;
    fclose(f);
    if (extra)
        die("the file holds more values than the network or the run needs", path);
}

/* Rows idx[0..b) of the images as floats pixel * (1/255), as matnet.data.normalize makes them. */
static void gather(const Idx *images, const int *idx, int b, float *x)
{
    const float scale = 1.0f / 255.0f;
    long k;
    int n;
    for (n = 0; n < b; n++)
        for (k = 0; k < images->size; k++)
            x[n * images->size + k] = (float)images->data[(long)idx[n] * images->size + k] * scale;
}

/* The layers' forward pass over a batch: acts[0] is the input, acts[l + 1] layer l's output (ReLU'd, but the last). */
static void forward(const Dense *layers, int n_layers, float **acts, int b)
{
    int l;
    for (l = 0; l < n_layers; l++) {
        dense_forward(&layers[l], acts[l], b, acts[l + 1]);
        if (l < n_layers - 1)
            relu_forward(acts[l + 1], (long)b * layers[l].n_out);
    }
}

/* Test loss and accuracy, in batches of 1000. */
static double evaluate(const Dense *layers, int n_layers, float **acts, const Idx *images, const Idx *labels,
                       double *accuracy)
{
    int *idx = alloc(sizeof(int) * 1000), start, n;
    long correct = 0;
    double loss = 0.0;
    for (start = 0; start < images->n; start += 1000) {
        int b = images->n - start < 1000 ? (int)(images->n - start) : 1000;
        for (n = 0; n < b; n++)
            idx[n] = start + n;
        gather(images, idx, b, acts[0]);
        forward(layers, n_layers, acts, b);
        loss += b * softmax_xent(acts[n_layers], labels->data + start, b, layers[n_layers - 1].n_out, NULL, &correct);
    }
    free(idx);
    *accuracy = (double)correct / (double)images->n;
    return loss / (double)images->n;
}

/* A file of the run folder is written as NAME.tmp and renamed over NAME when complete (close_out). */
static FILE *open_out(const Options *o, const char *name)
{
    char path[1100];
    FILE *f;
    snprintf(path, sizeof path, "%s/%s.tmp", o->out, name);
    f = fopen(path, "w");
    if (f == NULL)
        die("cannot write", path);
    return f;
}

static void close_out(const Options *o, const char *name, FILE *f)
{
    char path[1100], tmp[1110];
    snprintf(path, sizeof path, "%s/%s", o->out, name);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (ferror(f) | (fclose(f) != 0) || rename(tmp, path) != 0)
        die("cannot write", path);
}

int main(int argc, char **argv)
{
    const unsigned one = 1;
    Options o = parse(argc, argv);
    Idx train_x, train_y, test_x, test_y;
    Dense layers[MAX_LAYERS];
    float *acts[MAX_LAYERS + 1], *grads[MAX_LAYERS + 1], *theta, *g, *v, *losses, *rates;
    int *order, n, l, epoch, steps_per_epoch, step = 0;
    long n_params = 0, offset = 0, p;
    double train_seconds = 0.0, test_loss, test_acc;
    Rng rng;
    FILE *metrics;

    if (*(const unsigned char *)&one != 1)
        die("this program reads and writes little-endian files and runs only on a little-endian machine", NULL);
    rng.state = (uint64_t)o.seed;
    load(o.data, "train-images-idx3-ubyte", &train_x);
    load(o.data, "train-labels-idx1-ubyte", &train_y);
    load(o.data, "t10k-images-idx3-ubyte", &test_x);
    load(o.data, "t10k-labels-idx1-ubyte", &test_y);
    if (train_x.n != train_y.n || test_x.n != test_y.n || train_x.size != o.sizes[0] || test_x.size != o.sizes[0])
        die("the IDX files do not fit together, or the images do not have --layers' first size of pixels", o.data);
    n = o.train_size && o.train_size < train_x.n ? o.train_size : (int)train_x.n;
    for (l = 0; l < train_y.n; l++)
        if (train_y.data[l] >= o.sizes[o.n_layers])
            die("a training label is not below the number of classes, --layers' last size", o.data);
    for (l = 0; l < test_y.n; l++)
        if (test_y.data[l] >= o.sizes[o.n_layers])
            die("a test label is not below the number of classes, --layers' last size", o.data);

    /* The parameters, their gradients and the velocities: three flat vectors, as in matnet; each layer's W^T
       and b are views into them. */
    for (l = 0; l < o.n_layers; l++)
        n_params += (long)o.sizes[l] * o.sizes[l + 1] + o.sizes[l + 1];
    theta = alloc(sizeof(float) * (size_t)n_params);
    g = alloc(sizeof(float) * (size_t)n_params);
    v = alloc(sizeof(float) * (size_t)n_params);
    for (l = 0; l < o.n_layers; l++) {
        Dense *d = &layers[l];
        d->n_in = o.sizes[l];
        d->n_out = o.sizes[l + 1];
        d->wt = theta + offset, d->dwt = g + offset;
        offset += (long)d->n_in * d->n_out;
        d->b = theta + offset, d->db = g + offset;
        offset += d->n_out;
    }
    if (o.init != NULL) {            /* W (n_out, n_in) then b, layer by layer: transpose W into W^T */
        float *raw = alloc(sizeof(float) * (size_t)n_params);
        float *r = raw;
        int i, j;
        read_raw(o.init, raw, sizeof(float), (size_t)n_params);
        for (l = 0; l < o.n_layers; l++) {
            Dense *d = &layers[l];
            for (j = 0; j < d->n_out; j++)
                for (i = 0; i < d->n_in; i++)
                    d->wt[(long)i * d->n_out + j] = *r++;
            for (j = 0; j < d->n_out; j++)
                d->b[j] = *r++;
        }
        free(raw);
    } else
        for (l = 0; l < o.n_layers; l++) {
            const double sd = sqrt(2.0 / layers[l].n_in);
            for (p = 0; p < (long)layers[l].n_in * layers[l].n_out; p++)
                layers[l].wt[p] = (float)(sd * rng_normal(&rng));
        }

    steps_per_epoch = (n + o.batch - 1) / o.batch;
    order = alloc(sizeof(int) * (size_t)n * (size_t)o.epochs);
    if (o.order != NULL) {
        read_raw(o.order, order, sizeof(int), (size_t)n * (size_t)o.epochs);
        for (p = 0; p < (long)n * o.epochs; p++)
            if (order[p] < 0 || order[p] >= n)
                die("the batch order names an image outside the training images", o.order);
    } else
        for (epoch = 0; epoch < o.epochs; epoch++)
            rng_permutation(&rng, order + (long)epoch * n, n);
    for (l = 0; l <= o.n_layers; l++) {
        const int width = o.sizes[l], rows = o.batch > 1000 ? o.batch : 1000;
        acts[l] = alloc(sizeof(float) * (size_t)rows * (size_t)width);
        grads[l] = alloc(sizeof(float) * (size_t)rows * (size_t)width);
    }
    losses = alloc(sizeof(float) * (size_t)steps_per_epoch * (size_t)o.epochs);
    rates = alloc(sizeof(float) * (size_t)steps_per_epoch * (size_t)o.epochs);
    if (o.out != NULL && run_folder_create(o.out, o.force) != 0)
        return 1;
    metrics = o.out ? open_out(&o, "metrics.jsonl") : NULL;
    printf("training %d", o.sizes[0]);
    for (l = 1; l <= o.n_layers; l++)
        printf(",%d", o.sizes[l]);
    printf(" (relu) in C on %d images with momentum %g, lr %g (%s), batch %d, %d epoch%s\n", n, o.momentum, o.lr,
           o.cosine ? "cosine" : "constant", o.batch, o.epochs, o.epochs == 1 ? "" : "s");

    for (epoch = 1; epoch <= o.epochs; epoch++) {
        const int *epoch_order = order + (long)(epoch - 1) * n;
        const clock_t started = clock();
        double loss_sum = 0.0, seconds;
        long correct = 0;
        int start;
        for (start = 0; start < n; start += o.batch) {
            const int b = n - start < o.batch ? n - start : o.batch;
            const int classes = o.sizes[o.n_layers];
            unsigned char labels[4096];
            double loss;
            int k;
            rates[step] = (float)learning_rate(&o, epoch - 1 + (double)(start / o.batch + 1) / steps_per_epoch);
            if (b > (int)sizeof labels)
                die("--batch is at most 4096", NULL);
            for (k = 0; k < b; k++)
                labels[k] = train_y.data[epoch_order[start + k]];
            gather(&train_x, epoch_order + start, b, acts[0]);
            forward(layers, o.n_layers, acts, b);
            loss = softmax_xent(acts[o.n_layers], labels, b, classes, grads[o.n_layers], &correct);
            if (!isfinite(loss)) {
                fprintf(stderr, "mnist-train: the loss became %g at epoch %d, step %d: try a lower --lr\n", loss,
                        epoch, start / o.batch + 1);
                return 1;
            }
            for (l = o.n_layers - 1; l >= 0; l--) {   /* grads[l + 1] = dL/d(layer l's output) */
                dense_backward(&layers[l], acts[l], grads[l + 1], b, l > 0 ? grads[l] : NULL);
                if (l > 0)
                    relu_backward(acts[l], grads[l], (long)b * o.sizes[l]);
            }
            momentum_step(theta, g, v, n_params, rates[step], (float)o.momentum);
            losses[step++] = (float)loss;
            loss_sum += loss * b;
        }
        seconds = (double)(clock() - started) / CLOCKS_PER_SEC;
        train_seconds += seconds;
        printf("epoch %2d/%d  loss %.4f  acc %.2f%%  %.1fs\n", epoch, o.epochs, loss_sum / n, 100.0 * correct / n,
               seconds);
        fflush(stdout);
        if (metrics)
            fprintf(metrics, "{\"epoch\": %d, \"loss\": %.9g, \"acc\": %.9g, \"lr\": %.9g, \"seconds\": %.4f}\n", epoch,
                    loss_sum / n, (double)correct / n, rates[step - 1], seconds);
    }
    test_loss = evaluate(layers, o.n_layers, acts, &test_x, &test_y, &test_acc);
    printf("test accuracy %.2f%%  test loss %.4f  (%.1fs training, %.2fs an epoch)%s%s\n", 100.0 * test_acc,
           test_loss, train_seconds, train_seconds / o.epochs, o.out ? " -> " : "", o.out ? o.out : "");

    if (o.out != NULL) {
        char stem[1100];
        FILE *f;
        close_out(&o, "metrics.jsonl", metrics);
        f = open_out(&o, "steps.json");
        fprintf(f, "{\"steps_per_epoch\": %d, \"loss\": [", steps_per_epoch);
        for (l = 0; l < step; l++)
            fprintf(f, "%s%.9g", l ? ", " : "", losses[l]);
        fprintf(f, "], \"lr\": [");
        for (l = 0; l < step; l++)
            fprintf(f, "%s%.9g", l ? ", " : "", rates[l]);
        fprintf(f, "]}\n");
        close_out(&o, "steps.json", f);
        f = open_out(&o, "config.toml");
        fprintf(f, "# The same training in matnet (matnet train --config THIS): this run was trained by c/train.c\n"
                   "model = \"mlp\"\nlayers = [%d", o.sizes[0]);
        for (l = 1; l <= o.n_layers; l++)
            fprintf(f, ", %d", o.sizes[l]);
        fprintf(f, "]\nactivation = \"relu\"\noptimizer = \"momentum\"\nlr = %.15g\nmomentum = %.15g\n"
                   "schedule = \"%s\"\nweight_decay = 0.0\nbatch_size = %d\nepochs = %d\nseed = %d\n"
                   "dataset = \"mnist\"\nval_size = 0\nsubset = %d\n", o.lr, o.momentum,
                o.cosine ? "cosine" : "constant", o.batch, o.epochs, o.seed, n);   /* the images it trained on */
        close_out(&o, "config.toml", f);
        f = open_out(&o, "summary.json");
        fprintf(f, "{\n  \"test_accuracy\": %.9g,\n  \"test_loss\": %.9g,\n  \"epochs\": %d,\n"
                   "  \"train_seconds\": %.3f,\n  \"seconds_per_epoch\": %.3f,\n  \"parameters\": %ld,\n"
                   "  \"train_size\": %d,\n"
                   "  \"dataset\": \"mnist\",\n  \"trainer\": \"c\"\n}\n",
                test_acc, test_loss, o.epochs, train_seconds, train_seconds / o.epochs, n_params, n);
        close_out(&o, "summary.json", f);
        snprintf(stem, sizeof stem, "%s/model", o.out);
        if (model_file_save(stem, layers, o.n_layers) != 0)
            return 1;
    }
    for (l = 0; l <= o.n_layers; l++) {
        free(acts[l]);
        free(grads[l]);
    }
    free(theta), free(g), free(v), free(order), free(losses), free(rates);
    idx_free(&train_x), idx_free(&train_y), idx_free(&test_x), idx_free(&test_y);
    return 0;
}
