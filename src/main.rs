fn main() {
    std::process::exit(kopsform::run(std::env::args_os().collect()));
}
