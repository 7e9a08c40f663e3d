cd /work/main
export DDPM_DATA_DIR=/work/shared/data
s=$(date +%s.%N)
.venv/bin/python train.py --dataset mnist --cond class --steps 1200 --fast --no-progress --out runs/speedrun_cpu > /tmp/speedrun_train.log 2>&1
e=$(date +%s.%N)
echo "train wall from process start: $(echo "$e - $s" | bc) s" >> /tmp/speedrun_train.log
s=$(date +%s.%N)
.venv/bin/python sample.py --checkpoint runs/speedrun_cpu/checkpoint.pt --n 1000 --fast --classifier checkpoints/classifier_mnist.pt --out runs/speedrun_cpu/samples_w2 > /tmp/speedrun_sample.log 2>&1
e=$(date +%s.%N)
echo "sample wall: $(echo "$e - $s" | bc) s" >> /tmp/speedrun_sample.log
