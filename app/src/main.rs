fn main() {
    println!("promptbook");
}
