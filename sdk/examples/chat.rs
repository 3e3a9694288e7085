//! Terminal chat in a room.
//!
//! ```sh
//! cargo run -p roomcast-gateway            # the local gateway, in another terminal
//! cargo run -p roomcast-sdk --example chat -- alpha ada
//! ```
//!
//! Arguments: `[room] [name] [url]` (defaults `alpha`, `guest`, `ws://127.0.0.1:8080/dev`;
//! the URL may also come from `ROOMCAST_URL`). Type a line to send it; `/quit` leaves.

use futures::StreamExt;
use roomcast_sdk::{Client, Event, ServerMessage};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, BufReader};

#[derive(Serialize, Deserialize)]
struct Chat {
    name: String,
    text: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let room = args.next().unwrap_or_else(|| "alpha".into());
    let name = args.next().unwrap_or_else(|| "guest".into());
    let url = args
        .next()
        .or_else(|| std::env::var("ROOMCAST_URL").ok())
        .unwrap_or_else(|| "ws://127.0.0.1:8080/dev".into());

    let client = Client::connect(url).room(&room).await?;
    let room_of = client.to(&room);
    // Subscribe before joining: the join's recovered chat arrives through these too.
    let mut chats = room_of.on::<Chat>("chat");
    let mut events = client.events();
    client.join(&room).await?;
    println!("* you are {name} in {room}; type to chat, /quit to leave");

    // Print what the room says: its chat lines, decoded…
    let chat_printer = tokio::spawn(async move {
        while let Some((_from, chat)) = chats.next().await {
            println!("{}: {}", chat.name, chat.text);
        }
    });
    // …and everything else that happens.
    let printer = tokio::spawn(async move {
        while let Some(event) = events.next().await {
            match event {
                Event::App { event, data, .. } if event.as_str() != "chat" => {
                    println!("* {event}: {data}")
                }
                Event::Message(ServerMessage::Presence { members, users, .. }) => {
                    println!("* {users} in the room ({members} connections)")
                }
                Event::Disconnected => println!("* disconnected; reconnecting…"),
                // The re-join recovered what was said meanwhile (printed as it came).
                Event::Reconnected => println!("* reconnected"),
                _ => {}
            }
        }
    });

    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        let text = line.trim();
        if text == "/quit" {
            break;
        }
        if text.is_empty() {
            continue;
        }
        let chat = Chat {
            name: name.clone(),
            text: text.to_owned(),
        };
        // To the others: this terminal already shows what you typed.
        if let Err(e) = room_of.emit("chat", &chat).await {
            eprintln!("* not sent: {e}");
        }
    }
    client.close().await;
    printer.await?;
    chat_printer.await?;
    Ok(())
}
